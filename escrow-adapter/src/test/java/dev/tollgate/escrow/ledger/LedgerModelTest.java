package dev.tollgate.escrow.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Fees;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Random sequences of lock / release / refund / pay / expire, with repeated operation ids, run against the
 * real ledger and against a reference model written from the rules: after every step the balances agree,
 * money is conserved to the micro-USDC, {@code 0 <= released <= locked}, releases never go back, and an
 * operation id has one effect however often it is sent.
 */
class LedgerModelTest {
    enum Kind { LOCK, RELEASE, REFUND, PAY, EXPIRE, REPEAT, RESTART }

    record Action(Kind kind, int payer, int escrow, long amount, int repeatOf) {
    }

    private static final String[] PAYERS = {"ag_a", "ag_b", "ag_c"};
    private static final String PAYEE = "ag_worker";
    private static final String REFERRER = "ag_ref";
    private static final Fees FEES = Fees.PURPLE_FLEA;
    private static final long MIN = 100_000;
    // ./mvnw verify: 1,000 sequences of up to 100 actions (about 50,000 operations); the long run
    // (-Dtollgate.ledger.actions=2000: 1,000 sequences of up to 2,000, about 1,000,000) is named in README.
    private static final int MAX_ACTIONS = Integer.getInteger("tollgate.ledger.actions", 100);

    @Provide
    Arbitrary<List<Action>> actions() {
        Arbitrary<Action> one = Combinators.combine(
                Arbitraries.of(Kind.values()),
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, 4),
                Arbitraries.longs().between(0, 1_500_000),
                Arbitraries.integers().between(0, 30)).as(Action::new);
        return one.list().ofMinSize(1).ofMaxSize(MAX_ACTIONS);
    }

    /** The rules, restated plainly. */
    static final class Model {
        final Map<String, Long> balance = new HashMap<>();
        final Map<String, long[]> escrows = new HashMap<>(); // locked, released, refunded, fee, referral, open(1/0)
        final Map<String, String> escrowPayer = new HashMap<>();
        final Map<String, Object> ops = new HashMap<>();
        long fees;

        long bal(String a) {
            return balance.getOrDefault(a, 0L);
        }

        void add(String a, long v) {
            balance.put(a, bal(a) + v);
        }

        // Per payer x payee: cumulative paid, fee, fee accrued with a referrer, referral. Fees are 1% of the
        // cumulative amount rounded down, the referrer's 15% likewise: written out here, not taken from Fees.
        final Map<String, long[]> pairs = new HashMap<>();

        long[] charge(String payer, long amount) {
            long[] p = pairs.computeIfAbsent(payer, k -> new long[4]);
            p[0] += amount;
            long fee = p[0] / 100;
            long feeDelta = fee - p[1];
            p[1] = fee;
            long refDelta = 0;
            if (payer.equals("ag_a")) {
                p[2] += feeDelta;
                long ref = p[2] * 15 / 100;
                refDelta = ref - p[3];
                p[3] = ref;
            }
            return new long[] {feeDelta, refDelta};
        }

        void releaseTo(String id, long target) {
            long[] e = escrows.get(id);
            long delta = target - e[1];
            long[] f = charge(escrowPayer.get(id), delta);
            add(PAYEE, delta - f[0]);
            fees += f[0] - f[1];
            add(REFERRER, f[1]);
            e[1] = target;
        }

        void refund(String id) {
            long[] e = escrows.get(id);
            long rem = e[0] - e[1] - e[2];
            add(escrowPayer.get(id), rem);
            e[2] += rem;
            e[5] = 0;
        }
    }

    @Property(tries = 1000)
    void ledgerAgreesWithTheModel(@ForAll("actions") List<Action> actions) throws Exception {
        Path dir = Files.createTempDirectory("ledger-model-");
        dev.tollgate.escrow.TestClock clock = new dev.tollgate.escrow.TestClock();
        Database[] db = {Database.open(dir)};
        try {
            EmbeddedLedger ledger = new EmbeddedLedger(db[0], new LedgerBook(FEES), clock, MIN, true);
            Model m = new Model();
            ledger.setReferrer("ag_a", REFERRER);
            for (String p : PAYERS) {
                assertTrue(ledger.faucet(p));
                m.add(p, EmbeddedLedger.FAUCET_MICROS);
            }
            assertTrue(!ledger.faucet("ag_a"), "one faucet claim per agent");
            List<Action> done = new ArrayList<>();
            Map<String, Long> lastReleased = new HashMap<>();
            for (int step = 0; step < actions.size(); step++) {
                Action a = actions.get(step);
                String op = "op-" + step;
                if (a.kind() == Kind.REPEAT && !done.isEmpty()) {
                    int k = a.repeatOf() % done.size();
                    a = done.get(k);
                    op = "op-" + indexOf(actions, a, k);
                }
                if (a.kind() == Kind.RESTART) {
                    // The process stops and starts again on the same file: balances, holds, fee remainders and
                    // operation ids must all come back from disk.
                    db[0].close();
                    db[0] = Database.open(dir);
                    ledger = new EmbeddedLedger(db[0], new LedgerBook(FEES), clock, MIN, true);
                } else {
                    apply(ledger, m, a, op, clock);
                }
                done.add(a);
                check(ledger, m, lastReleased);
            }
        } finally {
            db[0].close();
        }
    }

    private static int indexOf(List<Action> actions, Action a, int hint) {
        for (int i = 0; i < actions.size(); i++) {
            if (actions.get(i) == a) {
                return i;
            }
        }
        return hint;
    }

    private static void apply(EmbeddedLedger ledger, Model m, Action a, String op, dev.tollgate.escrow.TestClock clock) {
        String payer = PAYERS[a.payer()];
        String id = "e" + a.escrow();
        boolean seen = m.ops.containsKey(op);
        switch (a.kind()) {
            case LOCK -> {
                EscrowResult r = ledger.lock(op, new LockRequest(id, payer, PAYEE, a.amount(), clock.millis() + 1000, "t"));
                if (!seen) {
                    boolean ok = a.amount() >= MIN && !m.escrows.containsKey(id) && m.bal(payer) >= a.amount();
                    assertEquals(ok, r instanceof EscrowResult.Done, "lock " + a + " -> " + r);
                    if (ok) {
                        m.add(payer, -a.amount());
                        m.escrows.put(id, new long[] {a.amount(), 0, 0, 0, 0, 1});
                        m.escrowPayer.put(id, payer);
                    }
                    m.ops.put(op, r.getClass());
                } else {
                    assertEquals(m.ops.get(op), r.getClass(), "a repeated lock answers as the first time");
                }
            }
            case RELEASE -> {
                long[] e = m.escrows.get(id);
                long target = e == null ? a.amount() : Math.min(a.amount(), e[0]);
                EscrowResult r = ledger.releaseTo(op, id, target);
                if (!seen) {
                    boolean ok = e != null && (target <= e[1] || (e[5] == 1 && target <= e[0] - e[2]));
                    assertEquals(ok, r instanceof EscrowResult.Done, "release " + a + " -> " + r);
                    if (ok && target > e[1]) {
                        m.releaseTo(id, target);
                    }
                    m.ops.put(op, r.getClass());
                }
            }
            case REFUND -> {
                long[] e = m.escrows.get(id);
                EscrowResult r = ledger.refundRemainder(op, id);
                if (!seen) {
                    assertEquals(e != null, r instanceof EscrowResult.Done);
                    if (e != null && e[5] == 1) {
                        m.refund(id);
                    }
                    m.ops.put(op, r.getClass());
                }
            }
            case PAY -> {
                EscrowResult r = ledger.pay(op, payer, PAYEE, a.amount());
                if (!seen) {
                    boolean ok = m.bal(payer) >= a.amount();
                    assertEquals(ok, r instanceof EscrowResult.Done);
                    if (ok) {
                        long[] f = m.charge(payer, a.amount());
                        m.add(payer, -a.amount());
                        m.add(PAYEE, a.amount() - f[0]);
                        m.fees += f[0] - f[1];
                        m.add(REFERRER, f[1]);
                        m.ops.put(op, r.getClass());
                    }
                    // A payment refused for lack of funds is owed, not final: the same id may be tried again.
                }
            }
            case EXPIRE, REPEAT, RESTART -> {
                clock.advance(2000);
                ledger.expireDue();
                for (Map.Entry<String, long[]> e : m.escrows.entrySet()) {
                    if (e.getValue()[5] == 1) {
                        m.refund(e.getKey());
                    }
                }
            }
            default -> throw new IllegalStateException();
        }
    }

    private static void check(EmbeddedLedger ledger, Model m, Map<String, Long> lastReleased) {
        for (String a : new String[] {"ag_a", "ag_b", "ag_c", PAYEE, REFERRER}) {
            assertEquals(m.bal(a), ledger.balance(a), "balance of " + a);
        }
        Conservation c = ledger.conservation();
        assertTrue(c.holds(), "conservation: " + c);
        assertEquals(3 * EmbeddedLedger.FAUCET_MICROS, c.mintedMicros());
        assertEquals(m.fees, c.feesMicros());
        for (Map.Entry<String, long[]> e : m.escrows.entrySet()) {
            EscrowState s = ledger.read(e.getKey());
            assertTrue(0 <= s.releasedMicros() && s.releasedMicros() + s.refundedMicros() <= s.lockedMicros());
            assertTrue(s.releasedMicros() >= lastReleased.getOrDefault(e.getKey(), 0L), "releases are monotonic");
            lastReleased.put(e.getKey(), s.releasedMicros());
            assertEquals(e.getValue()[1], s.releasedMicros());
            assertEquals(e.getValue()[2], s.refundedMicros());
        }
    }
}
