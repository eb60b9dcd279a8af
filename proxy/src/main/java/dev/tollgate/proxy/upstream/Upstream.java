package dev.tollgate.proxy.upstream;

import dev.tollgate.proxy.config.UpstreamConfig;
import java.net.URI;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One upstream inference server: its address, its bearer key, and its live load and health.
 *
 * <p>Threading: shared by all event loops; the counters are atomics, touched once per request (never per
 * chunk).
 */
public final class Upstream {
    private final String name;
    private final String host;
    private final int port;
    private final boolean tls;
    private final String basePath;
    private final String authorization;
    private final boolean continuousUsage;
    private final String worker;
    private final AtomicInteger outstanding = new AtomicInteger();
    private final AtomicInteger consecutiveFailures = new AtomicInteger();
    private final AtomicLong ejectedUntilNanos = new AtomicLong();

    public Upstream(UpstreamConfig cfg) {
        URI uri = URI.create(cfg.url());
        this.tls = "https".equals(uri.getScheme());
        this.host = uri.getHost();
        this.port = uri.getPort() > 0 ? uri.getPort() : (tls ? 443 : 80);
        String p = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        this.basePath = p;
        this.name = cfg.name() != null ? cfg.name() : host + ":" + port;
        String key = cfg.resolvedApiKey();
        if (key != null && key.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            // Upstream heads are not re-checked per request (ExchangeHeads): refuse a key that would break one.
            throw new IllegalArgumentException("upstream " + cfg.name() + ": api_key contains control characters");
        }
        this.authorization = key == null ? null : "Bearer " + key;
        this.continuousUsage = cfg.wantsContinuousUsage();
        this.worker = cfg.worker() != null ? cfg.worker() : this.name;
    }

    public String name() {
        return name;
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    public boolean tls() {
        return tls;
    }

    /** The Host header value. */
    public String authority() {
        boolean defaultPort = (tls && port == 443) || (!tls && port == 80);
        return defaultPort ? host : host + ":" + port;
    }

    /** {@code Authorization} header for this upstream, or null. */
    public String authorization() {
        return authorization;
    }

    public boolean continuousUsage() {
        return continuousUsage;
    }

    /** The payee agent id for settlement. */
    public String worker() {
        return worker;
    }

    /**
     * Maps a client path ({@code /v1/chat/completions?x}) onto this upstream: a base URL ending in {@code /v1}
     * replaces the client's {@code /v1}; any other base path is prefixed.
     */
    public String upstreamUri(String clientUri) {
        if (basePath.endsWith("/v1")) {
            if (clientUri.startsWith("/v1/") || clientUri.equals("/v1") || clientUri.startsWith("/v1?")) {
                return basePath + clientUri.substring(3);
            }
            // vLLM serves some routes beside /v1 (/pooling, /tokenize, /v2/rerank, /health): they live where /v1
            // does, not under it.
            return basePath.substring(0, basePath.length() - 3) + clientUri;
        }
        return basePath + clientUri;
    }

    public int outstanding() {
        return outstanding.get();
    }

    void acquire() {
        outstanding.incrementAndGet();
    }

    void release() {
        outstanding.decrementAndGet();
    }

    /** Whether this upstream may take requests at {@code nowNanos}. */
    public boolean healthy(long nowNanos) {
        long until = ejectedUntilNanos.get();
        return until == 0 || nowNanos - until >= 0;
    }

    void connectSucceeded() {
        consecutiveFailures.set(0);
        ejectedUntilNanos.set(0);
    }

    /** Records a connect failure; returns true if this failure ejected the upstream. */
    boolean connectFailed(int ejectAfter, long ejectNanos, long nowNanos) {
        if (consecutiveFailures.incrementAndGet() >= ejectAfter) {
            consecutiveFailures.set(0);
            ejectedUntilNanos.set(nowNanos + ejectNanos);
            return true;
        }
        return false;
    }

    @Override
    public String toString() {
        return name;
    }
}
