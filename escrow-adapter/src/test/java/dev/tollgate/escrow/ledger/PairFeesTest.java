package dev.tollgate.escrow.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Fees;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

/**
 * Fees are exact at any request size: many tiny releases pay the fee account exactly 1% of their total (rounded
 * down once), the referrer exactly 15% of that, across restarts. Expected values are computed by hand here.
 */
class PairFeesTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final String REF = "ag_ref";
    final TestClock clock = new TestClock();

    /** 272 requests, each locking 0.10 and releasing 25 micro-USDC (a short streamed request's cost). */
    private void tinyReleases(EmbeddedLedger ledger, int from, int to) {
        for (int i = from; i < to; i++) {
            String e = "req-" + i;
            assertInstanceOf(EscrowResult.Done.class, ledger.lock("lock:" + i,
                    new LockRequest(e, PAYER, WORKER, 100_000, clock.millis() + 60_000, "t")));
            assertInstanceOf(EscrowResult.Done.class, ledger.releaseTo("release:" + i, e, 25));
            assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainder("refund:" + i, e));
        }
    }

    @Test
    void tinyReleasesPayExactlyOnePercent() throws Exception {
        Path dir = Files.createTempDirectory("fees-");
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            ledger.credit("fund", PAYER, 1_000_000);
            tinyReleases(ledger, 0, 272);
            // 272 x 25 = 6,800 micro released; 1% = 68 exactly (per release it would round to 0).
            assertEquals(68, ledger.balance(LedgerBook.FEES));
            assertEquals(6_800 - 68, ledger.balance(WORKER));
            assertEquals(1_000_000 - 6_800, ledger.balance(PAYER));
            assertTrue(ledger.conservation().holds());
            // 6,800 x 1% = 68.00 exactly: nothing carried.
            assertEquals("0.0000", ledger.conservation().feeCarryMicros());
            ledger.lock("lock:x", new LockRequest("x", PAYER, WORKER, 100_000, clock.millis() + 60_000, "t"));
            ledger.releaseTo("release:x", "x", 43);
            // 6,843 x 1% = 68.43: 68 paid, 0.43 micro carried to the next payment.
            assertEquals(68, ledger.balance(LedgerBook.FEES));
            assertEquals("0.4300", ledger.conservation().feeCarryMicros());
        }
    }

    @Test
    void feeRemaindersCarryAcrossARestartAndTheReferrerGetsFifteenPercent() throws Exception {
        Path dir = Files.createTempDirectory("fees-");
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            ledger.setReferrer(PAYER, REF);
            ledger.credit("fund", PAYER, 1_000_000);
            tinyReleases(ledger, 0, 137);
        }
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            tinyReleases(ledger, 137, 272);
            // Fee 68 in total; the referrer's share is 15% of 68 = 10.2, rounded down once: 10.
            assertEquals(10, ledger.balance(REF));
            assertEquals(68 - 10, ledger.balance(LedgerBook.FEES));
            assertEquals(6_800 - 68, ledger.balance(WORKER));
            assertTrue(ledger.conservation().holds());
        }
    }

    @Test
    void bonusPaymentsShareThePairsRemainder() throws Exception {
        Path dir = Files.createTempDirectory("fees-");
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            ledger.credit("fund", PAYER, 1_000_000);
            // 99 through an escrow then 1 as a bonus: 100 paid in total, fee exactly 1.
            ledger.lock("l", new LockRequest("e", PAYER, WORKER, 100_000, clock.millis() + 60_000, "t"));
            ledger.releaseTo("r", "e", 99);
            assertEquals(0, ledger.balance(LedgerBook.FEES));
            ledger.pay("b", PAYER, WORKER, 1);
            assertEquals(1, ledger.balance(LedgerBook.FEES));
            assertEquals(99, ledger.balance(WORKER));
        }
    }

    /** Any sizes, any interleaving of two payers: each pair's fee is floor(total / 100), nothing more or less. */
    @Property(tries = 60)
    void feesEqualOnePercentOfEachPairsTotal(@ForAll @Size(min = 1, max = 40) List<@IntRange(min = 1, max = 3_000) Integer> sizes,
                                             @ForAll @Size(min = 40, max = 40) List<Boolean> payerB) throws Exception {
        Path dir = Files.createTempDirectory("fees-prop-");
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            ledger.credit("fa", "ag_a", 10_000_000);
            ledger.credit("fb", "ag_b", 10_000_000);
            Map<String, Long> total = new HashMap<>();
            for (int i = 0; i < sizes.size(); i++) {
                String payer = payerB.get(i) ? "ag_b" : "ag_a";
                String e = "e" + i;
                ledger.lock("l" + i, new LockRequest(e, payer, WORKER, 100_000, clock.millis() + 60_000, "t"));
                ledger.releaseTo("r" + i, e, sizes.get(i));
                total.merge(payer, (long) sizes.get(i), Long::sum);
            }
            long expectedFees = total.getOrDefault("ag_a", 0L) / 100 + total.getOrDefault("ag_b", 0L) / 100;
            assertEquals(expectedFees, ledger.balance(LedgerBook.FEES));
            long released = total.values().stream().mapToLong(Long::longValue).sum();
            assertEquals(released - expectedFees, ledger.balance(WORKER));
        }
    }
}
