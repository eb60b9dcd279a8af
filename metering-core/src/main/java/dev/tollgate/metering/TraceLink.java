package dev.tollgate.metering;

import java.util.List;
import java.util.Objects;

/**
 * The observability trace a request belongs to (Langfuse, named as LiteLLM names it): the trace id and the
 * optional attributes a client sent with it. Immutable.
 *
 * @param traceId        the trace's id (never empty)
 * @param sessionId      the trace's session, or null
 * @param userId         the trace's user ({@code trace_user_id}), or null
 * @param tags           the trace's tags (possibly empty)
 * @param generationName the name of the request's generation inside the trace, or null
 */
public record TraceLink(String traceId, String sessionId, String userId, List<String> tags, String generationName) {
    /** Longest id or attribute kept; longer values are cut (ids in Langfuse are short strings). */
    public static final int MAX_LENGTH = 200;
    /** Most tags kept. */
    public static final int MAX_TAGS = 20;

    public TraceLink {
        Objects.requireNonNull(traceId, "traceId");
        if (traceId.isEmpty()) {
            throw new IllegalArgumentException("empty trace id");
        }
        tags = tags == null ? List.of() : List.copyOf(tags);
    }

    /** A trace with an id only. */
    public static TraceLink of(String traceId) {
        return new TraceLink(traceId, null, null, List.of(), null);
    }

    /** This link with another trace id (the attributes kept). */
    public TraceLink withTraceId(String id) {
        return new TraceLink(id, sessionId, userId, tags, generationName);
    }
}
