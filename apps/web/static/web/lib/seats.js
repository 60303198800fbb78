// How a seat is named to the buyer, everywhere: "Floor B-14".

export const seatLabel = (seat) => `${seat.section} ${seat.row}-${seat.seat_num}`;

export const seatList = (seats) => seats.map(seatLabel).join(", ");
