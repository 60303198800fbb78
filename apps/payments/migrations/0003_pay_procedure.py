"""A payment's transaction as one stored procedure on MariaDB (`payments_pay`): the statements of
`apps.payments.services.pay_for_reservation` run on the server in the same order and under the same
locks (the reservation, then the wallet, then the seats in ascending id order), so a payment is one
round trip with its begin and commit. SQLite has no stored procedures: there the service runs the same
steps from Python. `apps.payments.pay_call` calls it and reads its one result row."""

from django.db import migrations

from apps.common.db import stored_procedure

PROCEDURE = "payments_pay"

CREATE = f"""
CREATE PROCEDURE {PROCEDURE}(
    IN p_own_transaction BOOLEAN,  -- start and end the transaction here (the caller has none open)
    IN p_user BIGINT,
    IN p_reservation BIGINT,
    IN p_date BIGINT,              -- the date of the buyer's queue access: the reservation must be of it
    IN p_booking_open BOOLEAN,     -- whether that date's booking is open now (its facts, read in process)
    IN p_now DATETIME(6),
    IN p_reference VARCHAR(100),   -- the ledger entry's reference
    IN p_seat_event_kind VARCHAR(64),
    IN p_completed_kind VARCHAR(64),
    IN p_completed_payload LONGTEXT
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_count INT;
    DECLARE v_date BIGINT;
    DECLARE v_status VARCHAR(10);
    DECLARE v_expires DATETIME(6);
    DECLARE v_total DECIMAL(14, 2);
    DECLARE v_balance DECIMAL(14, 2);
    DECLARE v_seats TEXT;
    DECLARE v_seat_count INT;
    DECLARE v_payment BIGINT;
    DECLARE v_seat_event BIGINT;
    DECLARE v_completed_event BIGINT;
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
        -- The reservation's lock, then the wallet's: the order of every booking transaction.
        SELECT COUNT(*), MAX(concert_date_id), MAX(status), MAX(expires_at), MAX(total_price)
        INTO v_count, v_date, v_status, v_expires, v_total
        FROM reservation WHERE id = p_reservation AND user_id = p_user
        FOR UPDATE;
        SELECT balance INTO v_balance FROM users WHERE id = p_user FOR UPDATE;
        IF v_count = 0 THEN
            SET v_outcome = 'not_found';
            LEAVE refuse;
        END IF;
        IF v_date <> p_date THEN
            SET v_outcome = 'other_date';
            LEAVE refuse;
        END IF;
        IF v_status = 'EXPIRED' OR (v_status = 'HELD' AND v_expires <= p_now) THEN
            SET v_outcome = 'expired';
            LEAVE refuse;
        END IF;
        IF v_status <> 'HELD' THEN
            SET v_outcome = 'not_held';
            LEAVE refuse;
        END IF;
        IF NOT p_booking_open THEN
            SET v_outcome = 'closed';
            LEAVE refuse;
        END IF;
        IF v_total > 0 AND v_balance < v_total THEN
            SET v_outcome = 'insufficient';
            LEAVE refuse;
        END IF;

        -- The seats HELD → RESERVED, in ascending id order; every one or the payment fails.
        SELECT GROUP_CONCAT(seat_id ORDER BY seat_id SEPARATOR ', '), COUNT(*) INTO v_seats, v_seat_count
        FROM reservation_item WHERE reservation_id = p_reservation;
        UPDATE JSON_TABLE(CONCAT('[', COALESCE(v_seats, ''), ']'), '$[*]' COLUMNS (id BIGINT PATH '$')) AS paid
        JOIN seat ON seat.id = paid.id  -- by primary key
        SET seat.status = 'RESERVED', seat.held_until = NULL, seat.version = seat.version + 1, seat.updated_at = p_now
        WHERE seat.concert_date_id = v_date AND seat.status = 'HELD';
        IF ROW_COUNT() <> v_seat_count THEN
            SET v_outcome = 'seats_not_held';
            LEAVE refuse;
        END IF;
        IF v_total > 0 THEN
            SET v_balance = v_balance - v_total;
            UPDATE users SET balance = v_balance, updated_at = p_now WHERE id = p_user;
            INSERT INTO wallet_transaction (created_at, updated_at, user_id, kind, amount, balance_after, reference)
            VALUES (p_now, p_now, p_user, 'PAYMENT', -v_total, v_balance, p_reference);
        END IF;
        INSERT INTO payment (created_at, updated_at, user_id, reservation_id, amount, status, paid_at, refunded_at)
        VALUES (p_now, p_now, p_user, p_reservation, v_total, 'PAID', p_now, NULL);
        SET v_payment = LAST_INSERT_ID();
        INSERT INTO common_outboxevent
            (created_at, updated_at, kind, payload, status, attempts, available_at, done_at, last_error)
        VALUES (
            p_now, p_now, p_seat_event_kind,
            CONCAT('{{"concert_date_id": ', v_date, ', "seat_ids": [', COALESCE(v_seats, ''), ']}}'),
            'PENDING', 0, p_now, NULL, ''
        );
        SET v_seat_event = LAST_INSERT_ID();
        UPDATE reservation SET status = 'CONFIRMED', reserved_at = p_now, updated_at = p_now
        WHERE id = p_reservation;
        INSERT INTO common_outboxevent
            (created_at, updated_at, kind, payload, status, attempts, available_at, done_at, last_error)
        VALUES (p_now, p_now, p_completed_kind, p_completed_payload, 'PENDING', 0, p_now, NULL, '');
        SET v_completed_event = LAST_INSERT_ID();
        SET v_outcome = 'paid';
    END refuse;

    IF p_own_transaction THEN
        IF v_outcome = 'paid' THEN
            COMMIT;
        ELSE
            ROLLBACK;
        END IF;
    END IF;
    SELECT v_outcome, v_status, v_total, v_balance, v_seats, v_payment, v_seat_event, v_completed_event;
END
"""


class Migration(migrations.Migration):
    atomic = False  # DDL: MariaDB commits it at once

    dependencies = [
        ("payments", "0002_initial"),
        ("reservations", "0002_hold_procedure"),
        ("concerts", "0004_inventory_shards"),
        ("common", "0003_outbox"),
        ("accounts", "0003_token_family_refresh_jti"),
    ]

    operations = [stored_procedure(PROCEDURE, CREATE)]
