package dev.tollgate.proxy.http;

import java.security.SecureRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Request ids: {@code tg-} + a random per-process prefix + a counter, unique across restarts without a
 * coordination point, and cheap (no UUID per request). Thread-safe.
 */
public final class RequestIds {
    private final String prefix;
    private final AtomicLong counter = new AtomicLong();

    public RequestIds() {
        SecureRandom r = new SecureRandom();
        this.prefix = "tg-" + Long.toString(Math.abs(r.nextLong() % 2_176_782_336L), 36) + "-"
                + Long.toString(System.currentTimeMillis(), 36) + "-";
    }

    public String next() {
        return prefix + Long.toString(counter.incrementAndGet(), 36);
    }
}
