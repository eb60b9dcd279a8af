package dev.tollgate.escrow;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock the test moves by hand, so expiry, deadlines and batching by time are deterministic. */
public final class TestClock extends Clock {
    private volatile long millis;

    /** Starting at a fixed instant (2023-11-14), the same in every run. */
    public TestClock() {
        this(1_700_000_000_000L);
    }

    /** Starting at {@code startMillis} (tests talking to a fake service that stamps real times use now). */
    public TestClock(long startMillis) {
        this.millis = startMillis;
    }

    public void advance(long ms) {
        millis += ms;
    }

    @Override
    public long millis() {
        return millis;
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis);
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }
}
