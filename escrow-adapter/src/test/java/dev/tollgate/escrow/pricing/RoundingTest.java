package dev.tollgate.escrow.pricing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Any batching of the same token stream pays exactly cost(total tokens), to the micro-USDC. */
class RoundingTest {
    private static final Price[] PRICES = {
        Price.of("0.15", "0.6", null, null),
        Price.of("2.5", "10", "0.000001", null),
        Price.of("0.000001", "0.000003", null, null),
        Price.of("0.333333", "1.777777", null, "0.000123")};

    @Property(tries = 300)
    void batchedReleasesPayExactlyTheCostOfTheTotal(
            @ForAll @Size(min = 1, max = 60) List<@LongRange(min = 0, max = 5000) Long> completionPerRequest,
            @ForAll @IntRange(min = 1, max = 17) int batchEvery,
            @ForAll @IntRange(min = 0, max = 3) int priceIndex) {
        Price price = PRICES[priceIndex];
        long prompt = 0;
        long completion = 0;
        long requests = 0;
        long computeMs = 0;
        long paid = 0;
        int sinceBatch = 0;
        for (long c : completionPerRequest) {
            prompt += 37;
            completion += c;
            requests++;
            computeMs += c / 3;
            if (++sinceBatch == batchEvery) {
                long target = price.microsFor(prompt, completion, requests, computeMs);
                paid += target - paid;
                sinceBatch = 0;
            }
        }
        paid += price.microsFor(prompt, completion, requests, computeMs) - paid;
        assertEquals(price.microsFor(prompt, completion, requests, computeMs), paid);
        // The float way drifts; the exact way equals the closed form.
        assertEquals((prompt * price.picoPerPromptToken() + completion * price.picoPerCompletionToken()
                + requests * price.microsPerRequest() * 1_000_000 + computeMs * price.picoPerComputeMilli())
                / 1_000_000, paid);
    }

    @Property(tries = 200)
    void feesOnCumulativeReleasesDoNotDependOnBatching(
            @ForAll @Size(min = 1, max = 40) List<@LongRange(min = 0, max = 90_000) Long> increments) {
        Fees f = Fees.PURPLE_FLEA;
        long total = 0;
        long feePaid = 0;
        for (long inc : increments) {
            total += inc;
            feePaid += f.feeOn(total) - feePaid;
        }
        assertEquals(f.feeOn(total), feePaid);
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
}
