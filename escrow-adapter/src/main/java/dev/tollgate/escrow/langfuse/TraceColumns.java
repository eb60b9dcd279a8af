package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.metering.TraceLink;
import java.util.ArrayList;
import java.util.List;

/**
 * How a {@link TraceLink} is kept in the {@code usage} table: the trace id in {@code trace_id}, the other
 * attributes (session, user, tags, generation name) as a small JSON object in {@code trace_attrs} (null when
 * there are none). Stateless.
 */
public final class TraceColumns {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TraceColumns() {
    }

    /** The {@code trace_attrs} value of a link, or null. */
    public static String attributes(TraceLink t) {
        if (t == null || (t.sessionId() == null && t.userId() == null && t.tags().isEmpty()
                && t.generationName() == null)) {
            return null;
        }
        ObjectNode o = JSON.createObjectNode();
        putIf(o, "session_id", t.sessionId());
        putIf(o, "user_id", t.userId());
        putIf(o, "generation_name", t.generationName());
        if (!t.tags().isEmpty()) {
            ArrayNode a = o.putArray("tags");
            t.tags().forEach(a::add);
        }
        return o.toString();
    }

    /** The link from the two columns, or null when {@code traceId} is null. */
    public static TraceLink link(String traceId, String attrs) {
        if (traceId == null) {
            return null;
        }
        if (attrs == null) {
            return TraceLink.of(traceId);
        }
        try {
            JsonNode o = JSON.readTree(attrs);
            List<String> tags = new ArrayList<>();
            JsonNode t = o.get("tags");
            if (t != null) {
                t.forEach(v -> tags.add(v.asText()));
            }
            return new TraceLink(traceId, text(o, "session_id"), text(o, "user_id"), tags,
                    text(o, "generation_name"));
        } catch (JsonProcessingException e) {
            return TraceLink.of(traceId);
        }
    }

    private static void putIf(ObjectNode o, String k, String v) {
        if (v != null) {
            o.put(k, v);
        }
    }

    private static String text(JsonNode o, String k) {
        JsonNode v = o.get(k);
        return v == null || v.isNull() ? null : v.asText();
    }
}
