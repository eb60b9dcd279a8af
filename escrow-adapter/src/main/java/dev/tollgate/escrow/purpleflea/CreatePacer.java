package dev.tollgate.escrow.purpleflea;

import java.util.ArrayDeque;

/**
 * Keeps this host's calls to one rate-limited route of the service under its limit (the service counts per
 * client address and route in fixed one-minute windows: create 20, release 30): at most {@code perMinute} calls
 * in any 61 s, and none before a {@code 429}'s {@code Retry-After} has passed. A 429 without the header (the
 * service sends none) waits until this host's oldest call of the last minute is a minute old, or a whole minute
 * when it has made none (other processes behind the same address used the budget).
 *
 * <p>Threading: thread-safe (synchronized; calls are rare).
 */
final class CreatePacer {
    static final long WINDOW_MS = 61_000;

    private final int perMinute;
    private final ArrayDeque<Long> recent = new ArrayDeque<>();
    private long blockedUntil;

    CreatePacer(int perMinute) {
        this.perMinute = perMinute;
    }

    /** The earliest time a call may go; {@code <= now} means now. */
    synchronized long notBefore(long now) {
        while (!recent.isEmpty() && recent.peekFirst() + WINDOW_MS <= now) {
            recent.pollFirst();
        }
        long t = blockedUntil;
        if (recent.size() >= perMinute) {
            t = Math.max(t, recent.peekFirst() + WINDOW_MS);
        }
        return t;
    }

    /** A call is about to go at {@code now}. */
    synchronized void sent(long now) {
        recent.addLast(now);
    }

    /** The service answered 429. */
    synchronized void limited(long now, long retryAfterMillis) {
        long until;
        if (retryAfterMillis >= 0) {
            until = now + retryAfterMillis;
        } else if (!recent.isEmpty() && recent.peekFirst() + WINDOW_MS > now) {
            until = recent.peekFirst() + WINDOW_MS;
        } else {
            until = now + 60_000;
        }
        blockedUntil = Math.max(blockedUntil, until);
    }
}
