package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.TraceLink;
import java.math.BigDecimal;
import java.time.Instant;

/**
 * What Langfuse should show for one request: the trace's {@code pf_*} metadata (the Purple Flea seed's fields)
 * and the request's generation (model, usage, cost), computed from its journaled usage and settlement rows.
 * Two snapshots with the same {@link #key()} need no write; each new key is one change, written once.
 *
 * <p>Threading: immutable.
 */
final class TraceSnapshot {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** {@code pf_payment_type} of metered requests. */
    static final String PAYMENT_TYPE = "trace_based_invoice";

    /** One request's journaled facts (usage joined with its settlement row, which may be absent). */
    record Facts(String requestId, TraceLink trace, String account, String worker, String model, long prompt,
                 long completion, long startedMs, long durationUs, String policy, String escrowId, String state,
                 long reserved, long released, long refunded, long bonus, long tips, String referrer) {
    }

    private final Facts f;
    private final ObjectNode metadata;
    private final long tokenCostMicros;

    /**
     * @param price        the model's price (null: not priced)
     * @param thresholdBps the account's quality threshold, or -1
     * @param settledAtMs  when the settlement was first seen final, or 0
     */
    TraceSnapshot(Facts f, Price price, int thresholdBps, long settledAtMs) {
        this.f = f;
        this.tokenCostMicros = price == null ? 0
                : price.microsFor(f.prompt(), f.completion(), 1, Math.max(0, f.durationUs() / 1000));
        ObjectNode m = JSON.createObjectNode();
        m.put("pf_escrow_id", f.escrowId());
        m.put("pf_agent_wallet", f.worker());
        m.put("pf_budget_usdc", usdc(f.reserved()));
        m.put("pf_payment_type", PAYMENT_TYPE);
        if (thresholdBps >= 0) {
            m.put("pf_quality_threshold", BigDecimal.valueOf(thresholdBps, 4));
        }
        m.put("pf_release_status", releaseStatus(f.state()));
        m.put("pf_token_cost_usd", usdc(tokenCostMicros));
        m.put("pf_released_usdc", usdc(f.released()));
        m.put("pf_refunded_usdc", usdc(f.refunded()));
        m.put("pf_bonus_usdc", usdc(f.bonus()));
        if (f.tips() > 0) {
            m.put("pf_tip_usdc", usdc(f.tips()));
        }
        if (f.referrer() != null) {
            m.put("pf_referral_code", f.referrer());
        }
        if (settledAtMs > 0) {
            m.put("pf_settled_at", Instant.ofEpochMilli(settledAtMs).toString());
        }
        m.put("tollgate_request_id", f.requestId());
        this.metadata = m;
    }

    /**
     * Whether the settlement is final as far as the release goes (bonuses and tips may still follow); a request
     * without a settlement row (an account that does not pay) is final at once.
     */
    static boolean isFinal(String state) {
        return state == null || (state.equals("settled") || state.equals("refunded") || state.equals("released")
                || state.startsWith("failed"));
    }

    /** The seed's {@code pf_release_status} for a settlement state (null: the request pays nothing). */
    static String releaseStatus(String state) {
        if (state == null) {
            return "unpaid";
        }
        return switch (state) {
            case "settled", "released" -> "released";
            case "refunded" -> "refunded";
            case "awaiting_score" -> "awaiting_score";
            case "batched" -> "accruing";
            case "locked", "unlocked", "locking", "lock_unknown" -> "locked";
            default -> state;
        };
    }

    static BigDecimal usdc(long micros) {
        return BigDecimal.valueOf(micros, 6);
    }

    /** What decides whether a change must be written: the metadata (the generation follows from it). */
    String key() {
        return metadata.toString();
    }

    long tokenCostMicros() {
        return tokenCostMicros;
    }

    /** The trace-create event (an upsert of the trace: Langfuse merges the metadata). */
    String traceEvent(String eventId, long nowMs) {
        ObjectNode body = JSON.createObjectNode();
        body.put("id", f.trace().traceId());
        body.set("metadata", metadata.deepCopy());
        TraceLink t = f.trace();
        if (t.sessionId() != null) {
            body.put("sessionId", t.sessionId());
        }
        if (t.userId() != null) {
            body.put("userId", t.userId());
        }
        if (!t.tags().isEmpty()) {
            t.tags().forEach(body.putArray("tags")::add);
        }
        return event(eventId, "trace-create", body, nowMs);
    }

    /** The request's generation: created with the first change, updated (same id) with each later one. */
    String generationEvent(String eventId, boolean first, long nowMs) {
        ObjectNode body = JSON.createObjectNode();
        body.put("id", generationId(f.requestId()));
        body.put("traceId", f.trace().traceId());
        body.put("name", f.trace().generationName() != null ? f.trace().generationName() : f.model());
        body.put("model", f.model());
        body.put("startTime", Instant.ofEpochMilli(f.startedMs()).toString());
        body.put("endTime", Instant.ofEpochMilli(f.startedMs() + Math.max(0, f.durationUs() / 1000)).toString());
        ObjectNode usage = body.putObject("usageDetails");
        usage.put("input", f.prompt());
        usage.put("output", f.completion());
        usage.put("total", f.prompt() + f.completion());
        body.putObject("costDetails").put("total", usdc(tokenCostMicros));
        body.set("metadata", metadata.deepCopy());
        return event(eventId, first ? "generation-create" : "generation-update", body, nowMs);
    }

    static String generationId(String requestId) {
        return "tollgate-" + requestId;
    }

    static String event(String eventId, String type, ObjectNode body, long nowMs) {
        ObjectNode e = JSON.createObjectNode();
        e.put("id", eventId);
        e.put("timestamp", Instant.ofEpochMilli(nowMs).toString());
        e.put("type", type);
        e.set("body", body);
        return e.toString();
    }
}
