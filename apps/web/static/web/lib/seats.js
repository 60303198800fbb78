// How a seat is named to the buyer, everywhere, as a ticket reads: section, row, and the seat's number
// within its row ("Floor B-14"). A seat of the layout carries that `number`; one the API names only by
// the date-wide `seat_num` (a reservation's seats) is named by it.

export const seatLabel = (seat) => `${seat.section} ${seat.row}-${seat.number ?? seat.seat_num}`;

export const seatList = (seats) => seats.map(seatLabel).join(", ");
