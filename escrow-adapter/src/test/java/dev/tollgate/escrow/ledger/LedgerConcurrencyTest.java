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
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Several threads submit to one ledger at once (as event loops, the journal and the settler do): each thread is
 * one payer paying the same worker through escrows and direct payments, with its operations repeated. Whatever
 * the interleaving, the totals are what each thread's own sequence says, computed here by hand: fees are 1% of
 * each payer's cumulative total, rounded down once; the referrer gets 15% of its payer's fees.
 */
class LedgerConcurrencyTest {
    static final int THREADS = 4;
    static final int ROUNDS = 400;
    static final String WORKER = "ag_worker";
    static final String REF = "ag_ref";

    @Test
    void concurrentPayersEndWithExactTotals() throws Exception {
        Path dir = Files.createTempDirectory("ledger-conc-");
        TestClock clock = new TestClock();
        try (Database db = Database.open(dir)) {
            EmbeddedLedger ledger = new EmbeddedLedger(db, new LedgerBook(Fees.PURPLE_FLEA), clock, 100_000, true);
            ledger.setReferrer("ag_p0", REF);
            for (int t = 0; t < THREADS; t++) {
                ledger.credit("fund-" + t, "ag_p" + t, 1_000_000_000L);
            }
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<Long>> paid = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                paid.add(pool.submit(() -> run(ledger, thread, clock)));
            }
            long[] totals = new long[THREADS];
            for (int t = 0; t < THREADS; t++) {
                totals[t] = paid.get(t).get();
            }
            pool.shutdown();
            long fees = 0;
            long referral = 0;
            long gross = 0;
            for (int t = 0; t < THREADS; t++) {
                long fee = totals[t] / 100;
                long ref = t == 0 ? fee * 15 / 100 : 0;
                fees += fee - ref;
                referral += ref;
                gross += totals[t];
                assertEquals(1_000_000_000L - totals[t], ledger.balance("ag_p" + t), "payer " + t);
                assertEquals(1_000_000_000L - totals[t], ledger.funds().available("ag_p" + t),
                        "memory agrees with the ledger for payer " + t);
            }
            assertEquals(fees, ledger.balance(LedgerBook.FEES));
            assertEquals(referral, ledger.balance(REF));
            assertEquals(gross - fees - referral, ledger.balance(WORKER));
            assertTrue(ledger.conservation().holds(), ledger.conservation().toString());
        }
    }

    /** One payer's sequence; every operation is sent twice (a retry) and must count once. Returns what it paid. */
    private static long run(EmbeddedLedger ledger, int thread, TestClock clock) {
        SplittableRandom random = new SplittableRandom(thread);
        String payer = "ag_p" + thread;
        long total = 0;
        for (int i = 0; i < ROUNDS; i++) {
            String e = "t" + thread + "-" + i;
            long hold = 100_000 + random.nextInt(50_000);
            long release = random.nextInt(3_000);
            long bonus = random.nextInt(200);
            for (int attempt = 0; attempt < 2; attempt++) {
                assertInstanceOf(EscrowResult.Done.class, ledger.lock("lock:" + e,
                        new LockRequest(e, payer, WORKER, hold, clock.millis() + 3_600_000, "t")));
                assertInstanceOf(EscrowResult.Done.class, ledger.releaseTo("release:" + e, e, release));
                assertInstanceOf(EscrowResult.Done.class, ledger.refundRemainder("refund:" + e, e));
                if (bonus > 0) {
                    assertInstanceOf(EscrowResult.Done.class, ledger.pay("bonus:" + e, payer, WORKER, bonus));
                }
            }
            total += release + bonus;
        }
        return total;
    }
}
