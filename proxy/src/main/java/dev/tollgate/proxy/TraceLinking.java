package dev.tollgate.proxy;

import dev.tollgate.metering.TraceLink;
import io.netty.handler.codec.http.HttpHeaders;

/**
 * Which Langfuse trace a metered request belongs to: the one its body's {@code metadata} names, else the one the
 * header {@code langfuse_trace_id} names (LiteLLM proxy's {@code langfuse_<key>} headers), else, when the node
 * creates traces ({@code langfuse.create_traces: true}), a new trace whose id is the Tollgate request id.
 *
 * <p>Threading: immutable; called on event loops.
 */
public final class TraceLinking {
    /** The request header that names a trace. */
    public static final String HEADER = "langfuse_trace_id";
    /** Traces only as clients name them. */
    public static final TraceLinking CLIENT_NAMED = new TraceLinking(false);

    private final boolean createTraces;

    public TraceLinking(boolean createTraces) {
        this.createTraces = createTraces;
    }

    /** The request's trace, or null when it belongs to none. */
    public TraceLink link(MeteredRequest metered, HttpHeaders headers, String requestId) {
        TraceLink fromBody = metered.trace();
        if (fromBody != null) {
            return fromBody;
        }
        String header = headers.get(HEADER);
        if (header != null && !header.isBlank()) {
            String id = header.trim();
            return TraceLink.of(id.length() > TraceLink.MAX_LENGTH ? id.substring(0, TraceLink.MAX_LENGTH) : id);
        }
        return createTraces ? TraceLink.of(requestId) : null;
    }
}
