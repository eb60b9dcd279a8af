package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.pricing.Micros;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The service allows 20 creates a minute per client address. Tollgate paces its creates under that, honours a
 * 429 (with {@code Retry-After}, or a minute without it) instead of hammering, and puts everything a payer owes a
 * worker into one escrow per create, so that 10 USDC a minute of traffic settles with a bounded backlog. All on a
 * test clock shared with the fake.
 */
class PurpleFleaRateLimitTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";

    @Test
    void a429WithRetryAfterIsHonouredNotHammered() throws Exception {
        try (PfHarness h = new PfHarness(PAYER)) {
            h.fake.register(WORKER);
            h.fake.fund(PAYER, Micros.parse("5"));
            h.fake.useUpCreates();
            h.fake.retryAfterSeconds = 61;
            h.serve(PAYER, WORKER, 120);
            assertEquals(1, h.fake.limited.get());
            for (int s = 0; s < 60; s++) {
                h.clock.advance(1_000);
                h.serve(PAYER, WORKER, 10);
            }
            assertEquals(1, h.fake.limited.get(), "no call before Retry-After has passed");
            assertEquals(0, h.fake.creates.get());
            h.clock.advance(1_000);
            h.service.settleNow();
            assertEquals(1, h.fake.creates.get(), "one escrow for everything owed");
            assertEquals(720_000 - 7_200, h.fake.balance(WORKER), "0.12 + 60 x 0.01, minus the 1% fee");
        }
    }

    @Test
    void aRateLimitedReleaseIsRetriedOnTheSameEscrowNotByCreatingAnother() throws Exception {
        try (PfHarness h = new PfHarness(PAYER)) {
            h.fake.register(WORKER);
            h.fake.fund(PAYER, Micros.parse("5"));
            h.fake.limitNextRelease = true;
            h.serve(PAYER, WORKER, 120);
            assertEquals(1, h.fake.creates.get());
            assertEquals(0, h.fake.releases.get());
            h.serve(PAYER, WORKER, 30);
            h.clock.advance(61_000);
            h.service.settleNow();
            assertEquals(1, h.fake.creates.get(), "the funded escrow is released, no second one created");
            assertEquals(1, h.fake.releases.get());
            assertEquals(120_000 - 1_200, h.fake.balance(WORKER));
            assertEquals(5_000_000 - 120_000, h.fake.balance(PAYER), "0.03 still owed, below the minimum");
        }
    }

    @Test
    void a429WithoutRetryAfterWaitsAMinute() throws Exception {
        try (PfHarness h = new PfHarness(PAYER)) {
            h.fake.register(WORKER);
            h.fake.fund(PAYER, Micros.parse("5"));
            h.fake.useUpCreates(); // The service sends no Retry-After.
            h.serve(PAYER, WORKER, 120);
            h.clock.advance(59_000);
            h.serve(PAYER, WORKER, 30);
            assertEquals(1, h.fake.limited.get());
            h.clock.advance(2_000);
            h.service.settleNow();
            assertEquals(1, h.fake.creates.get());
            assertEquals(150_000 - 1_500, h.fake.balance(WORKER));
        }
    }

    /**
     * Two payers, five workers each, 10 USDC a minute in all (0.05 per pair every 3 s) for 30 minutes. Wanted: one
     * escrow per 0.10 would need 100 creates a minute, five times the limit.
     */
    @Test
    void tenUsdcAMinuteSettlesWithABoundedBacklogUnderTheCreateLimit() throws Exception {
        List<String> payers = List.of("ag_p1", "ag_p2");
        try (PfHarness h = new PfHarness(payers, null, null)) {
            for (String p : payers) {
                h.fake.fund(p, Micros.parse("1000"));
            }
            for (int w = 0; w < 5; w++) {
                h.fake.register("ag_w" + w);
            }
            long served = 0;
            long worstBacklog = 0;
            for (int tick = 0; tick < 600; tick++) {
                for (String p : payers) {
                    for (int w = 0; w < 5; w++) {
                        h.service.usageListener().onUsage(List.of(h.usage(p, "ag_w" + w, 50)));
                        served += 50_000;
                    }
                }
                h.service.settleNow();
                worstBacklog = Math.max(worstBacklog, served - h.fake.releasedMicros());
                h.clock.advance(3_000);
            }
            assertEquals(300_000_000, served, "30 minutes at 10 USDC/minute");
            assertEquals(0, h.fake.limited.get(), "paced under the limit: never refused");
            assertTrue(h.fake.creates.get() <= 20 * 31, "at most 20 creates in any minute: " + h.fake.creates.get());
            // One minute of traffic waits at most for the next window, plus the tick being journaled.
            assertTrue(worstBacklog <= 10_500_000, "backlog bounded: " + Micros.format(worstBacklog));
            for (int s = 0; s < 3; s++) {
                h.clock.advance(61_000);
                h.service.settleNow();
            }
            assertEquals(served, h.fake.releasedMicros(), "everything paid once the traffic stops");
            System.out.printf("10 USDC/min for 30 min: %d escrows, worst backlog %s USDC%n", h.fake.creates.get(),
                    Micros.format(worstBacklog));
        }
    }
}
