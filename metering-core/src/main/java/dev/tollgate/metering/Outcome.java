package dev.tollgate.metering;

/**
 * How a metered exchange ended. Exactly one outcome per {@link UsageRecord}.
 *
 * <p>The wire name ({@link #wireName()}) is what the admin API, the metrics labels and the journal use.
 */
public enum Outcome {
    /** The upstream answered 2xx and the response reached the client in full. */
    COMPLETED("completed"),
    /** The client went away before the response ended; what was served is still metered. */
    CLIENT_DISCONNECTED("client_disconnected"),
    /** The upstream answered 4xx/5xx before the stream started (passed through with its status). */
    UPSTREAM_ERROR("upstream_error"),
    /** The upstream sent an error event, or the connection broke, after the response had started. */
    STREAM_ERROR("stream_error"),
    /** No upstream could be reached (502 to the client). */
    UPSTREAM_UNREACHABLE("upstream_unreachable"),
    /** The upstream went quiet for longer than the idle timeout (504 before the stream, error event after). */
    UPSTREAM_TIMEOUT("upstream_timeout"),
    /** Tollgate refused the request before calling any upstream (400, 401, 413). */
    REJECTED("rejected"),
    /** The payer could not cover the request's escrow lock (402 before any upstream call). */
    PAYMENT_REQUIRED("payment_required"),
    /**
     * The client read nothing for longer than its idle timeout while the response waited for it: both sides were
     * closed; what was served is still metered.
     */
    CLIENT_STALLED("client_stalled");

    private final String wireName;

    Outcome(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    /** Whether the upstream produced billable work that the client received (in whole or in part). */
    public boolean servedTokens() {
        return this == COMPLETED || this == CLIENT_DISCONNECTED || this == STREAM_ERROR || this == UPSTREAM_TIMEOUT
                || this == CLIENT_STALLED;
    }

    public static Outcome fromWireName(String name) {
        for (Outcome o : values()) {
            if (o.wireName.equals(name)) {
                return o;
            }
        }
        throw new IllegalArgumentException("unknown outcome: " + name);
    }
}
