package dev.tollgate.simulator;

/**
 * A fault to inject into one response. Grammar of the spec (header {@code x-sim-fault} or config):
 * <ul>
 *   <li>{@code status:CODE} - answer CODE (4xx/5xx) with a vLLM error body before any stream;</li>
 *   <li>{@code error-after:K} - after K content chunks, an error event then {@code data: [DONE]}, no usage;</li>
 *   <li>{@code reset-after:K} - after K content chunks, reset the connection (RST);</li>
 *   <li>{@code reset-before-headers} - read the request, then reset without answering;</li>
 *   <li>{@code stall-after:K} - after K content chunks, send nothing more and keep the connection open;</li>
 *   <li>{@code stall-before-headers} - never answer.</li>
 * </ul>
 */
public record FaultPlan(Kind kind, int value) {
    public enum Kind { NONE, STATUS, ERROR_AFTER, RESET_AFTER, RESET_BEFORE_HEADERS, STALL_AFTER, STALL_BEFORE_HEADERS }

    public static final FaultPlan NONE = new FaultPlan(Kind.NONE, 0);

    /** Parses a spec; null or empty is no fault. */
    public static FaultPlan parse(String spec) {
        if (spec == null || spec.isBlank()) {
            return NONE;
        }
        String s = spec.trim();
        int colon = s.indexOf(':');
        String name = colon < 0 ? s : s.substring(0, colon);
        int v = 0;
        if (colon >= 0) {
            try {
                v = Integer.parseInt(s.substring(colon + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad fault spec: " + spec);
            }
        }
        Kind k = switch (name) {
            case "status" -> Kind.STATUS;
            case "error-after" -> Kind.ERROR_AFTER;
            case "reset-after" -> Kind.RESET_AFTER;
            case "reset-before-headers" -> Kind.RESET_BEFORE_HEADERS;
            case "stall-after" -> Kind.STALL_AFTER;
            case "stall-before-headers" -> Kind.STALL_BEFORE_HEADERS;
            default -> throw new IllegalArgumentException("unknown fault: " + spec);
        };
        if (k == Kind.STATUS && (v < 400 || v > 599)) {
            throw new IllegalArgumentException("fault status must be 4xx or 5xx: " + spec);
        }
        return new FaultPlan(k, v);
    }

    /** Whether the stream must stop after {@code chunksSent} content chunks. */
    public boolean firesAfter(int chunksSent) {
        return (kind == Kind.ERROR_AFTER || kind == Kind.RESET_AFTER || kind == Kind.STALL_AFTER) && chunksSent >= value;
    }
}
