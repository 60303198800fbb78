"""The hold transaction as one stored procedure on MariaDB (`reservations_hold`): the statements of
`apps.reservations.services._create_hold` run on the server in the same order and under the same
locks, so a hold is one round trip (and nothing built per request in Python). SQLite has no stored
procedures: there the service runs the same steps from Python. `apps.reservations.hold_call` calls it
and reads its one result set."""

from django.db import migrations

from apps.common.db import stored_procedure

PROCEDURE = "reservations_hold"

CREATE = f"""
CREATE PROCEDURE {PROCEDURE}(
    IN p_own_transaction BOOLEAN,  -- start and end the transaction here (the caller has none open)
    IN p_user BIGINT,
    IN p_concert BIGINT,
    IN p_date BIGINT,
    IN p_seats TEXT,               -- JSON array of the seat ids, ascending, no repeats
    IN p_shards TEXT,              -- JSON array of [inventory shard, change of its remaining], ascending
    IN p_now DATETIME(6),
    IN p_expires DATETIME(6),
    IN p_max_holds INT,
    IN p_max_seats INT,
    IN p_version_retries INT,
    IN p_event_kind VARCHAR(64),
    IN p_event_payload LONGTEXT
)
MODIFIES SQL DATA
hold: BEGIN
    DECLARE v_count INT;
    DECLARE v_of_date INT;
    DECLARE v_taken TEXT;
    DECLARE v_expired TEXT;
    DECLARE v_total DECIMAL(14, 2);
    DECLARE v_holds INT DEFAULT 0;
    DECLARE v_owned INT DEFAULT 0;
    DECLARE v_shard INT;
    DECLARE v_delta INT;
    DECLARE v_version INT;
    DECLARE v_try INT;
    DECLARE v_index INT DEFAULT 0;
    DECLARE v_event BIGINT;
    DECLARE v_reservation BIGINT;
    DECLARE v_outcome VARCHAR(16) DEFAULT NULL;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        IF p_own_transaction THEN
            ROLLBACK;
        END IF;
        RESIGNAL;
    END;

    IF p_own_transaction THEN
        START TRANSACTION;
    END IF;

    refuse: BEGIN
        -- The user lock first: it serialises one user's holds, so the counts read after it are exact.
        SELECT COUNT(*) INTO v_count FROM users WHERE id = p_user FOR UPDATE;
        IF v_count = 0 THEN
            SET v_outcome = 'no_user';
            LEAVE refuse;
        END IF;
        SELECT COUNT(*) INTO v_count
        FROM JSON_TABLE(p_shards, '$[*]' COLUMNS (shard INT PATH '$[0]')) AS wanted
        JOIN inventory ON inventory.concert_date_id = p_date AND inventory.shard = wanted.shard;
        IF v_count <> JSON_LENGTH(p_shards) THEN
            SET v_outcome = 'no_date';
            LEAVE refuse;
        END IF;
        -- A requested seat already taken (the hot seat) is refused without locking any seat.
        SELECT GROUP_CONCAT(seat.id ORDER BY seat.id) INTO v_taken
        FROM JSON_TABLE(p_seats, '$[*]' COLUMNS (id BIGINT PATH '$')) AS wanted
        JOIN seat ON seat.id = wanted.id
        WHERE seat.concert_date_id = p_date
          AND (seat.status = 'RESERVED' OR (seat.status = 'HELD' AND seat.held_until > p_now));
        IF v_taken IS NOT NULL THEN
            SET v_outcome = 'taken';
            LEAVE refuse;
        END IF;
        -- The seat lock, in ascending id order (the order of p_seats: the join walks it).
        SELECT COUNT(*), COALESCE(SUM(seat.concert_date_id = p_date), 0),
               GROUP_CONCAT(IF(seat.status <> 'AVAILABLE', seat.id, NULL) ORDER BY seat.id),
               GROUP_CONCAT(IF(seat.status = 'HELD' AND seat.held_until <= p_now, seat.id, NULL) ORDER BY seat.id),
               COALESCE(SUM(seat.price), 0)
        INTO v_count, v_of_date, v_taken, v_expired, v_total
        FROM JSON_TABLE(p_seats, '$[*]' COLUMNS (id BIGINT PATH '$')) AS wanted
        JOIN seat ON seat.id = wanted.id
        FOR UPDATE;
        IF v_count <> JSON_LENGTH(p_seats) OR v_of_date <> v_count THEN
            SET v_outcome = 'no_seat';
            LEAVE refuse;
        END IF;
        SELECT COUNT(*) INTO v_holds FROM reservation
        WHERE user_id = p_user AND concert_date_id = p_date AND status = 'HELD' AND expires_at > p_now;
        IF v_holds >= p_max_holds THEN
            SET v_outcome = 'hold_limit';
            LEAVE refuse;
        END IF;
        SELECT COUNT(*) INTO v_owned
        FROM reservation_item JOIN reservation ON reservation.id = reservation_item.reservation_id
        WHERE reservation.user_id = p_user AND reservation.concert_date_id = p_date
          AND (reservation.status = 'CONFIRMED' OR (reservation.status = 'HELD' AND reservation.expires_at > p_now));
        IF v_owned + v_count > p_max_seats THEN
            SET v_outcome = 'seat_limit';
            LEAVE refuse;
        END IF;
        IF v_taken IS NOT NULL THEN
            SET v_outcome = 'taken_locked';
            LEAVE refuse;
        END IF;

        UPDATE JSON_TABLE(p_seats, '$[*]' COLUMNS (id BIGINT PATH '$')) AS wanted
        JOIN seat ON seat.id = wanted.id  -- by primary key (an IN subquery would scan the table)
        SET seat.status = 'HELD', seat.held_until = p_expires, seat.version = seat.version + 1,
            seat.updated_at = p_now;
        -- Each shard's remaining with its version check, in ascending shard order, retried a bounded
        -- number of times when another hold moved the version in between.
        WHILE v_index < JSON_LENGTH(p_shards) DO
            SET v_shard = JSON_VALUE(p_shards, CONCAT('$[', v_index, '][0]'));
            SET v_delta = JSON_VALUE(p_shards, CONCAT('$[', v_index, '][1]'));
            SET v_try = 0;
            shard_update: LOOP
                SELECT version INTO v_version FROM inventory WHERE concert_date_id = p_date AND shard = v_shard;
                UPDATE inventory
                SET remaining = remaining + v_delta, version = version + 1, updated_at = p_now
                WHERE concert_date_id = p_date AND shard = v_shard AND version = v_version;
                IF ROW_COUNT() = 1 THEN
                    LEAVE shard_update;
                END IF;
                SET v_try = v_try + 1;
                IF v_try >= p_version_retries THEN
                    SET v_outcome = 'busy';
                    LEAVE refuse;
                END IF;
            END LOOP;
            SET v_index = v_index + 1;
        END WHILE;
        INSERT INTO common_outboxevent
            (created_at, updated_at, kind, payload, status, attempts, available_at, done_at, last_error)
        VALUES (p_now, p_now, p_event_kind, p_event_payload, 'PENDING', 0, p_now, NULL, '');
        SET v_event = LAST_INSERT_ID();
        INSERT INTO reservation
            (created_at, updated_at, user_id, concert_id, concert_date_id, status, total_price, expires_at,
             reserved_at, ended_at)
        VALUES (p_now, p_now, p_user, p_concert, p_date, 'HELD', v_total, p_expires, NULL, NULL);
        SET v_reservation = LAST_INSERT_ID();
        INSERT INTO reservation_item (created_at, updated_at, reservation_id, seat_id, live_seat_id, price)
        SELECT p_now, p_now, v_reservation, seat.id, seat.id, seat.price
        FROM JSON_TABLE(p_seats, '$[*]' COLUMNS (id BIGINT PATH '$')) AS wanted
        JOIN seat ON seat.id = wanted.id
        ORDER BY seat.id;
        SET v_outcome = 'held';
    END refuse;

    IF p_own_transaction THEN
        IF v_outcome = 'held' THEN
            COMMIT;
        ELSE
            ROLLBACK;
        END IF;
    END IF;
    IF v_outcome = 'held' THEN
        SELECT v_outcome, v_reservation, v_event, v_total, NULL, NULL, NULL, NULL,
               reservation_item.id, seat.id, seat.seat_num, seat.section, seat.row, seat.price
        FROM reservation_item JOIN seat ON seat.id = reservation_item.seat_id
        WHERE reservation_item.reservation_id = v_reservation
        ORDER BY seat.id;
    ELSE
        SELECT v_outcome, NULL, NULL, NULL, v_taken, v_expired, v_holds, v_owned,
               NULL, NULL, NULL, NULL, NULL, NULL;
    END IF;
END
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0001_initial"),
        ("concerts", "0004_inventory_shards"),
        ("common", "0003_outbox"),
        ("accounts", "0003_token_family_refresh_jti"),
    ]

    atomic = False  # DDL: MariaDB commits it at once

    operations = [stored_procedure(PROCEDURE, CREATE)]
