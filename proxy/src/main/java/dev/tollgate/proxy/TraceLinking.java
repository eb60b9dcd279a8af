package dev.tollgate.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.metering.TraceLink;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;

/**
 * Which Langfuse trace a metered request belongs to: the one its body's {@code metadata} names, else the one the
 * header {@code langfuse_trace_id} names (LiteLLM proxy's {@code langfuse_<key>} headers), else, when the node
 * creates traces ({@code langfuse.create_traces: true}), a new trace whose id is the Tollgate request id.
 * Reading {@code metadata} never fails a request.
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
            return TraceLink.of(cut(header.trim()));
        }
        return createTraces ? TraceLink.of(requestId) : null;
    }

    /**
     * The trace named by a request body's {@code metadata} as LiteLLM names it ({@code trace_id} or
     * {@code existing_trace_id}, with {@code session_id}, {@code trace_user_id}, {@code tags},
     * {@code generation_name}), or null; a {@code metadata} of another shape names no trace.
     */
    static TraceLink fromMetadata(JsonNode metadata) {
        if (metadata == null || !metadata.isObject()) {
            return null;
        }
        String id = text(metadata.get("trace_id"));
        if (id == null) {
            id = text(metadata.get("existing_trace_id"));
        }
        if (id == null) {
            return null;
        }
        List<String> tags = new ArrayList<>();
        JsonNode t = metadata.get("tags");
        if (t != null && t.isArray()) {
            for (JsonNode tag : t) {
                String v = text(tag);
                if (v != null && tags.size() < TraceLink.MAX_TAGS) {
                    tags.add(v);
                }
            }
        }
        return new TraceLink(id, text(metadata.get("session_id")), text(metadata.get("trace_user_id")), tags,
                text(metadata.get("generation_name")));
    }

    /** A non-empty string value cut to {@link TraceLink#MAX_LENGTH}, else null. */
    private static String text(JsonNode v) {
        return v == null || !v.isTextual() || v.textValue().isEmpty() ? null : cut(v.textValue());
    }

    private static String cut(String s) {
        return s.length() > TraceLink.MAX_LENGTH ? s.substring(0, TraceLink.MAX_LENGTH) : s;
    }
}
