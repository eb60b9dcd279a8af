package dev.tollgate.escrow.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Fees;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Holds opened and emptied in one commit (short requests locked and settled in the same group commit) leave their
 * escrow rows and no transfers of their own: what left them is written as summed payer-to-payee, payer-to-fees and
 * payer-to-referrer rows. The amounts are computed by hand: fees are 1% of the pair's cumulative total rounded down
 * once, the referrer gets 15% of the fees.
 *
 * <p>Two escrows of payer A (referred by R) to worker W in one commit: e1 locks 1,000,000 and releases 600,000;
 * e2 locks 400,000 and releases 250,000. Fee on 600,000 is 6,000 (referral 900); on 850,000 it is 8,500 (referral
 * 1,275): e2's share is 2,500 (referral 375).
 */
class NettedHoldsTest {
    private static final String A = "ag_a";
    private static final String R = "ag_r";
    private static final String W = "ag_w";

    @Test
    void holdsEmptiedInTheirCommitAreSummedNotRowedPerEscrow() throws Exception {
        try (Database db = Database.open(Files.createTempDirectory("netted-"))) {
            EmbeddedLedger ledger = funded(db);
            db.transaction(c -> {
                twoRequests(ledger, c);
                return null;
            });
            List<String> rows = db.transaction(NettedHoldsTest::transfersAfterFunding);
            assertEquals(List.of("ag_a>ag_w release 841500", "ag_a>@fees escrow_fee 7225",
                    "ag_a>ag_r escrow_referral 1275"), rows, "three summed rows, none through a hold");
            assertEscrowRows(db);
            assertStatements(ledger);
        }
    }

    @Test
    void aHoldThatOutlivesItsCommitKeepsItsTransfers() throws Exception {
        try (Database db = Database.open(Files.createTempDirectory("netted-apart-"))) {
            EmbeddedLedger ledger = funded(db);
            // The same two requests, each of the five steps its own commit: the holds are written, and so are
            // their transfers, one per movement.
            lock(ledger, "e1", 1_000_000);
            lock(ledger, "e2", 400_000);
            assertInstanceOf(EscrowResult.Done.class, ledger.releaseTo("r1", "e1", 600_000));
            assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainder("f1", "e1"));
            assertInstanceOf(EscrowResult.Done.class, ledger.releaseTo("r2", "e2", 250_000));
            assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainder("f2", "e2"));
            List<String> rows = db.transaction(NettedHoldsTest::transfersAfterFunding);
            assertEquals(List.of("ag_a>escrow:e1 lock 1000000", "ag_a>escrow:e2 lock 400000",
                    "escrow:e1>ag_w release 594000", "escrow:e1>@fees fee 5100", "escrow:e1>ag_r referral 900",
                    "escrow:e1>ag_a refund 400000", "escrow:e2>ag_w release 247500", "escrow:e2>@fees fee 2125",
                    "escrow:e2>ag_r referral 375", "escrow:e2>ag_a refund 150000"), rows);
            // Written either way, the escrows and the statements are the same.
            assertEscrowRows(db);
            assertStatements(ledger);
        }
    }

    @Test
    void aJournaledLockWhoseIdIsTakenFailsItsCommit() throws Exception {
        Path dir = Files.createTempDirectory("netted-clash-");
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = funded(db);
            db.transaction(c -> {
                twoRequests(ledger, c);
                return null;
            });
        }
        // A new process: nothing in memory; a journaled lock reuses e1 (ids are minted by the node, so this is a
        // broken id source): the commit fails at the escrow's insert and e1 stays as it was.
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), new TestClock(), 1,
                    true);
            ledger.funds().reserve(A, 5);
            assertThrows(RuntimeException.class, () -> db.transaction(c -> ledger.lockJournaled(c, "lock:again",
                    new LockRequest("e1", A, W, 5, Long.MAX_VALUE, "again"))));
            assertEquals(600_000, ledger.read("e1").releasedMicros());
            assertEquals(1_000_000, ledger.read("e1").lockedMicros());
            assertEquals(10_000_000 - 850_000, ledger.balance(A));
            assertTrue(ledger.conservation().holds(), ledger.conservation().toString());
        }
    }

    private static EmbeddedLedger funded(Database db) {
        EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), new TestClock(), 1, true);
        ledger.setReferrer(A, R);
        assertTrue(ledger.credit("fund", A, 10_000_000));
        return ledger;
    }

    private static void lock(EmbeddedLedger ledger, String id, long amount) {
        assertInstanceOf(EscrowResult.Done.class, ledger.lock("lock-" + id,
                new LockRequest(id, A, W, amount, Long.MAX_VALUE, id)));
    }

    private static void twoRequests(EmbeddedLedger ledger, Connection c) throws SQLException {
        ledger.funds().reserve(A, 1_400_000);
        assertInstanceOf(EscrowResult.Done.class, ledger.lockJournaled(c, "lock:1",
                new LockRequest("e1", A, W, 1_000_000, Long.MAX_VALUE, "e1")));
        assertInstanceOf(EscrowResult.Done.class, ledger.lockJournaled(c, "lock:2",
                new LockRequest("e2", A, W, 400_000, Long.MAX_VALUE, "e2")));
        assertInstanceOf(EscrowResult.Done.class, ledger.releaseToJournaled(c, "release:1", "e1", 600_000));
        assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainderJournaled(c, "refund:1", "e1"));
        assertInstanceOf(EscrowResult.Done.class, ledger.releaseToJournaled(c, "release:2", "e2", 250_000));
        assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainderJournaled(c, "refund:2", "e2"));
    }

    private static List<String> transfersAfterFunding(Connection c) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT debit, credit, kind, amount FROM transfer "
                + "WHERE kind <> 'credit' ORDER BY seq"); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1) + ">" + rs.getString(2) + " " + rs.getString(3) + " " + rs.getLong(4));
            }
        }
        return out;
    }

    private static void assertEscrowRows(Database db) {
        List<String> escrows = db.transaction(c -> {
            List<String> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT id, locked, released, refunded, fee, referral, "
                    + "status FROM escrow ORDER BY id"); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1) + " " + rs.getLong(2) + " " + rs.getLong(3) + " " + rs.getLong(4) + " "
                            + rs.getLong(5) + " " + rs.getLong(6) + " " + rs.getString(7));
                }
            }
            return out;
        });
        assertEquals(List.of("e1 1000000 600000 400000 6000 900 closed", "e2 400000 250000 150000 2500 375 closed"),
                escrows);
    }

    private static void assertStatements(EmbeddedLedger ledger) {
        Statement a = ledger.statement(A);
        assertEquals(10_000_000 - 850_000, a.balanceMicros());
        assertEquals(0, a.heldMicros());
        assertEquals(850_000, a.spentMicros());
        assertEquals(550_000, a.refundedMicros());
        assertEquals(8_500, a.feesMicros());
        assertEquals(0, a.bonusPaidMicros());
        assertEquals(841_500, ledger.statement(W).earnedMicros());
        assertEquals(841_500, ledger.balance(W));
        assertEquals(1_275, ledger.statement(R).referralMicros());
        assertEquals(7_225, ledger.balance(LedgerBook.FEES));
        assertTrue(ledger.conservation().holds(), ledger.conservation().toString());
    }
}
