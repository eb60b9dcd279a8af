package dev.tollgate.escrow.pricing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

/**
 * Any batching of the same token stream pays exactly the cost of the total, rounded down once to the micro-USDC.
 * The expected cost comes from a reference written with {@link BigDecimal} on the decimal price strings (USDC per
 * million tokens, per request, per second), not from {@link Price}'s integer arithmetic.
 */
class RoundingTest {
    /** Price strings as an operator writes them: prompt and completion per million, per request, per second. */
    private static final String[][] PRICES = {
        {"0.15", "0.6", "0", "0"},
        {"2.5", "10", "0.000001", "0"},
        {"0.000001", "0.000003", "0", "0"},
        {"0.333333", "1.777777", "0", "0.000123"}};

    private static Price price(String[] p) {
        return Price.of(p[0], p[1], p[2], p[3]);
    }

    /** The reference: exact decimal cost in USDC, floored to micro-USDC once. */
    private static long referenceMicros(String[] p, long prompt, long completion, long requests, long computeMs) {
        BigDecimal million = BigDecimal.valueOf(1_000_000);
        BigDecimal usdc = new BigDecimal(p[0]).multiply(BigDecimal.valueOf(prompt)).divide(million)
                .add(new BigDecimal(p[1]).multiply(BigDecimal.valueOf(completion)).divide(million))
                .add(new BigDecimal(p[2]).multiply(BigDecimal.valueOf(requests)))
                .add(new BigDecimal(p[3]).multiply(BigDecimal.valueOf(computeMs)).divide(BigDecimal.valueOf(1000)));
        return usdc.movePointRight(6).setScale(0, RoundingMode.FLOOR).longValueExact();
    }

    @Property(tries = 300)
    void batchedReleasesPayExactlyTheReferenceCostOfTheTotal(
            @ForAll @Size(min = 1, max = 60) List<@LongRange(min = 0, max = 5000) Long> completionPerRequest,
            @ForAll @IntRange(min = 1, max = 17) int batchEvery,
            @ForAll @IntRange(min = 0, max = 3) int priceIndex) {
        String[] spec = PRICES[priceIndex];
        Price price = price(spec);
        long prompt = 0;
        long completion = 0;
        long requests = 0;
        long computeMs = 0;
        long paid = 0;
        long roundedPerRequest = 0;
        int sinceBatch = 0;
        for (long c : completionPerRequest) {
            prompt += 37;
            completion += c;
            requests++;
            computeMs += c / 3;
            roundedPerRequest += referenceMicros(spec, 37, c, 1, c / 3);
            if (++sinceBatch == batchEvery) {
                // What the settlement does per batch: release the cumulative cost so far, minus what was paid.
                long target = price.microsFor(prompt, completion, requests, computeMs);
                assertTrue(target >= paid, "releases never go back");
                paid = target;
                sinceBatch = 0;
            }
        }
        paid = price.microsFor(prompt, completion, requests, computeMs);
        assertEquals(referenceMicros(spec, prompt, completion, requests, computeMs), paid);
        // Rounding each request on its own can only lose money: the cumulative way never pays less.
        assertTrue(roundedPerRequest <= paid);
    }

    @Test
    void handComputedCosts() {
        // 1,000 prompt tokens at 0.15 USDC/M = 150 micro; 333 completion tokens at 0.60 USDC/M = 199.8 micro;
        // 349.8 micro in all, paid 349 (rounded down once).
        assertEquals(349, price(PRICES[0]).microsFor(1_000, 333, 1, 0));
        // 40 completion tokens at 0.60 USDC/M = 24 micro; 8 prompt tokens at 0.15 = 1.2 micro: 25 per request,
        // but 272 such requests are 272 x 25.2 = 6,854.4 micro: 6,854 paid on the cumulative total.
        assertEquals(25, price(PRICES[0]).microsFor(8, 40, 1, 0));
        assertEquals(6_854, price(PRICES[0]).microsFor(272 * 8, 272 * 40, 272, 0));
        // Compute time: 0.000123 USDC per second is 0.123 micro per millisecond; 10 s = 1,230 micro.
        assertEquals(1_230, Price.of("0", "0", null, "0.000123").microsFor(0, 0, 0, 10_000));
    }

    @Test
    void pricesAreExactOrRefused() {
        // 0.002 USDC per million tokens is 2,000 pico-USDC per token.
        assertEquals(2_000, Price.of("0.002", "0.002", null, null).picoPerPromptToken());
        // One million tokens at 0.000002 USDC each is exactly 2 USDC.
        assertEquals(2_000_000, Price.of("2", "2", null, null).microsFor(1_000_000, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> Price.of("0.0000000000001", "1", null, null));
        assertEquals(100_000, Micros.parse("0.10"));
        assertThrows(IllegalArgumentException.class, () -> Micros.parse("0.0000001"));
        assertEquals("0.100000", Micros.format(100_000));
    }

    @Test
    void aWorstCaseThatCannotBePricedIsRefusedNotWrapped() {
        assertThrows(ArithmeticException.class, () -> price(PRICES[1]).microsUpperBound(0, Long.MAX_VALUE / 2));
    }
}
