package dev.tollgate.escrow.pricing;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The price of one model, exact: prompt and completion prices per million tokens, an optional fee per
 * request and an optional compute price per second. Held as integers of pico-USDC (10^-12 USDC) per token and
 * per millisecond, so that every price with up to 6 decimals per million tokens is exact.
 *
 * <p>Costs are computed on cumulative totals and rounded once, down to the micro-USDC ({@link #microsFor});
 * a caller that pays {@code microsFor(total so far) - paid so far} on each batch pays exactly
 * {@code microsFor(total)} whatever the batching.
 *
 * @param picoPerPromptToken     prompt price, pico-USDC per token
 * @param picoPerCompletionToken completion price, pico-USDC per token
 * @param microsPerRequest       fixed fee per request, micro-USDC
 * @param picoPerComputeMilli    compute price, pico-USDC per millisecond of request duration
 */
public record Price(long picoPerPromptToken, long picoPerCompletionToken, long microsPerRequest,
                    long picoPerComputeMilli) {

    public static final Price FREE = new Price(0, 0, 0, 0);

    public Price {
        if (picoPerPromptToken < 0 || picoPerCompletionToken < 0 || microsPerRequest < 0 || picoPerComputeMilli < 0) {
            throw new IllegalArgumentException("negative price");
        }
    }

    /**
     * From decimal strings: USDC per 1M prompt tokens, per 1M completion tokens, per request, per second
     * (the last two may be null).
     */
    public static Price of(String promptPerMillion, String completionPerMillion, String perRequest, String perSecond) {
        return new Price(picoPerUnit(promptPerMillion, 1_000_000), picoPerUnit(completionPerMillion, 1_000_000),
                perRequest == null ? 0 : Micros.parse(perRequest), picoPerUnit(perSecond, 1_000));
    }

    /** USDC per {@code per} units, as pico-USDC per unit; exact or an error. */
    private static long picoPerUnit(String usdc, long per) {
        if (usdc == null) {
            return 0;
        }
        BigDecimal d = new BigDecimal(usdc.trim());
        if (d.signum() < 0) {
            throw new IllegalArgumentException("negative price: " + usdc);
        }
        try {
            return d.movePointRight(12).divide(BigDecimal.valueOf(per)).setScale(0, RoundingMode.UNNECESSARY)
                    .longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("price not representable exactly (pico-USDC per unit): " + usdc);
        }
    }

    /** Exact cost in pico-USDC of cumulative usage. */
    public long picosFor(long promptTokens, long completionTokens, long requests, long computeMillis) {
        long p = Math.multiplyExact(promptTokens, picoPerPromptToken);
        long c = Math.multiplyExact(completionTokens, picoPerCompletionToken);
        long r = Math.multiplyExact(Math.multiplyExact(requests, microsPerRequest), 1_000_000L);
        long t = Math.multiplyExact(computeMillis, picoPerComputeMilli);
        return Math.addExact(Math.addExact(p, c), Math.addExact(r, t));
    }

    /** Cost of cumulative usage in micro-USDC, rounded down once (the remainder carries into later totals). */
    public long microsFor(long promptTokens, long completionTokens, long requests, long computeMillis) {
        return picosFor(promptTokens, completionTokens, requests, computeMillis) / 1_000_000L;
    }

    /** The worst-case cost of a request before it runs, rounded up (a lock must cover the actual cost). */
    public long microsUpperBound(long promptTokens, long maxCompletionTokens) {
        long picos = picosFor(promptTokens, maxCompletionTokens, 1, 0);
        return (picos + 999_999L) / 1_000_000L;
    }
}
