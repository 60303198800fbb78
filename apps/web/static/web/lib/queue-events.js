// The line's push (GET /api/queue/events): server-sent events that say when the date sells out, so a
// buyer at the back of a long line, whose polls are minutes apart, hears it at once; and, given the
// buyer's number in line, when admission reached it, so the buyer asks for the token then, not at
// the next poll. Served only behind
// nginx with the push server: where it is missing (404) or refused, the page polls as it always did.
// The status poll stays the source of truth for the place and for admission; the stream only ends the
// wait for the next poll early. No DOM here: node's test runner runs it with a fake EventSource.

const CLOSED = 2; // EventSource.CLOSED (node has no EventSource)

// A page whose stream will tell it its turn asks half as often as `poll_after_seconds` says, and at most
// TOLD_TURN_MAX_EXTRA_SECONDS later than it: its polls then only keep the place and refresh the place
// shown. The server never says more than a third of the heartbeat timeout, and a place admitted between
// two polls waits QUEUE_ACTIVE_IDLE_SECONDS (2 min) longer than the longest it says: with the defaults a
// minute more keeps both, even if the turn is never told. A stream that drops wakes the page.
export const TOLD_TURN_MAX_EXTRA_SECONDS = 60;
export const pollDelay = (pollAfter, toldTurn) =>
  toldTurn ? pollAfter + Math.min(pollAfter, TOLD_TURN_MAX_EXTRA_SECONDS) : pollAfter;

const saysSoldOut = (data) => {
  try {
    return JSON.parse(data)?.sold_out === true;
  } catch {
    return false;
  }
};

// The date's stream, one waiting period at a time: `open(number)` connects unless connected already
// (with the buyer's number in line, once a poll has given one: the stream then also says when that
// number's turn came), `close()` ends the period. When the stream says the date sold out it is closed,
// `soldOut` is true until `close()`, and `onSoldOut` runs; when it says the buyer's turn came, `onTurn`
// runs (the page polls at once: the poll hands out the queue token); when a connected stream drops,
// `onLost` runs (a page that relied on it to tell the turn asks now, and then as often as told).
// `connect` is EventSource's constructor but for tests.
export function lineStream(
  dateId,
  { onSoldOut, onTurn = () => {}, onLost = () => {}, connect = (url) => new EventSource(url) },
) {
  const base = `/api/queue/events?concert_date_id=${encodeURIComponent(dateId)}`;
  let source = null;
  let listening = null; // the number the open stream was given (null: none)
  let live = false; // the open stream is connected (its first answer came; not between a drop and a reconnect)
  let soldOut = false;
  let failed = false; // a stream that failed is not asked for again on this screen: the polls carry on
  const end = () => {
    source?.close();
    source = null;
    live = false;
  };
  return {
    get soldOut() {
      return soldOut;
    },
    // The stream is connected with the buyer's number: the turn will be told, so the page need not poll
    // for it.
    get toldTurn() {
      return live && listening != null;
    },
    open(number = null) {
      // A number learnt after the stream opened (the pre-queue's place is drawn at the opening): the
      // stream is opened again with it, once.
      if (source && number != null && listening == null) end();
      if (source || soldOut || failed) return;
      listening = number ?? null;
      const mine = connect(listening == null ? base : `${base}&number=${encodeURIComponent(listening)}`);
      source = mine;
      let opened = false;
      mine.onopen = () => {
        opened = true;
        if (source === mine) live = true;
      };
      mine.onerror = () => {
        // EventSource reconnects by itself after a drop, and every connection starts with the date's
        // state (and a turn already come), so nothing is missed. A stream that never opened (no push
        // server here), was refused (404, 503: CLOSED), or whose reconnect failed too is given up rather
        // than retried forever.
        if (source === mine && live) {
          live = false;
          onLost();
        }
        if (opened && mine.readyState !== CLOSED) {
          opened = false;
          return;
        }
        failed = true;
        mine.close();
        if (source === mine) source = null;
      };
      mine.addEventListener("seats", (event) => {
        if (source !== mine || !saysSoldOut(event.data)) return;
        end();
        soldOut = true;
        onSoldOut();
      });
      mine.addEventListener("turn", () => {
        if (source === mine) onTurn();
      });
    },
    close() {
      end();
      soldOut = false;
    },
  };
}
