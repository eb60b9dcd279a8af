package dev.tollgate.proxy.upstream;

import dev.tollgate.proxy.config.UpstreamConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The upstreams of a node, with least-outstanding selection and passive health: an upstream is ejected for a
 * while after consecutive connect failures; when every upstream is ejected the least recently ejected is tried
 * anyway (a fleet that is down should be probed, not declared dead forever).
 *
 * <p>Threading: thread-safe; called once per request attempt.
 */
public final class UpstreamGroup {
    private final List<Upstream> upstreams;
    private final int ejectAfter;
    private final long ejectNanos;
    private final AtomicInteger rotation = new AtomicInteger();

    public UpstreamGroup(List<UpstreamConfig> configs, int ejectAfter, long ejectMillis) {
        List<Upstream> list = new ArrayList<>();
        for (UpstreamConfig c : configs) {
            list.add(new Upstream(c));
        }
        this.upstreams = List.copyOf(list);
        this.ejectAfter = Math.max(1, ejectAfter);
        this.ejectNanos = ejectMillis * 1_000_000L;
    }

    public List<Upstream> all() {
        return upstreams;
    }

    /**
     * Picks the healthy upstream with the fewest outstanding requests, skipping those in {@code tried}; null
     * when every upstream was tried. The chosen upstream's outstanding count is incremented: pair with
     * {@link #done}.
     */
    public Upstream acquire(List<Upstream> tried, long nowNanos) {
        int n = upstreams.size();
        if (n == 0) {
            return null; // Only protocol upstreams (RunPod jobs): nothing for the OpenAI relay.
        }
        int start = Math.floorMod(rotation.getAndIncrement(), n);
        Upstream best = null;
        Upstream fallback = null;
        for (int i = 0; i < n; i++) {
            Upstream u = upstreams.get((start + i) % n);
            if (tried.contains(u)) {
                continue;
            }
            if (!u.healthy(nowNanos)) {
                if (fallback == null) {
                    fallback = u;
                }
                continue;
            }
            if (best == null || u.outstanding() < best.outstanding()) {
                best = u;
            }
        }
        Upstream chosen = best != null ? best : fallback;
        if (chosen != null) {
            chosen.acquire();
        }
        return chosen;
    }

    /** Ends a request on {@code upstream} started by {@link #acquire}. */
    public void done(Upstream upstream) {
        upstream.release();
    }

    public void connectSucceeded(Upstream u) {
        u.connectSucceeded();
    }

    public boolean connectFailed(Upstream u, long nowNanos) {
        return u.connectFailed(ejectAfter, ejectNanos, nowNanos);
    }
}
