package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.agent.AgentEscrow;
import dev.tollgate.escrow.agent.AgentEscrowPage;
import dev.tollgate.escrow.pricing.Micros;
import java.time.Instant;

/**
 * The JSON shapes of the escrow API. An escrow:
 * {@code {escrow_id, status, from_agent_id, to_agent_id, amount, released, refunded, remaining, memo,
 * auto_release_hours, on_expiry, expires_at, created_at}}, amounts as decimal strings with 6 places
 * ({@code "10.000000"}), times in ISO-8601 UTC. A page: {@code {escrows: [...], has_more, next_cursor}}.
 *
 * <p>Stateless.
 */
final class EscrowJson {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    private EscrowJson() {
    }

    static ObjectNode escrow(AgentEscrow e) {
        ObjectNode j = MAPPER.createObjectNode();
        j.put("escrow_id", e.id());
        j.put("status", e.status());
        j.put("from_agent_id", e.payer());
        j.put("to_agent_id", e.payee());
        j.put("amount", Micros.format(e.lockedMicros()));
        j.put("released", Micros.format(e.releasedMicros()));
        j.put("refunded", Micros.format(e.refundedMicros()));
        j.put("remaining", Micros.format(e.remainingMicros()));
        j.put("memo", e.memo());
        j.put("auto_release_hours", e.autoReleaseHours());
        j.put("on_expiry", e.onExpiry());
        j.put("expires_at", Instant.ofEpochMilli(e.releaseAtMillis()).toString());
        j.put("created_at", Instant.ofEpochMilli(e.createdMillis()).toString());
        return j;
    }

    static ObjectNode page(AgentEscrowPage p) {
        ObjectNode j = MAPPER.createObjectNode();
        ArrayNode a = j.putArray("escrows");
        p.escrows().forEach(e -> a.add(escrow(e)));
        j.put("has_more", p.nextSeq() >= 0);
        if (p.nextSeq() >= 0) {
            j.put("next_cursor", Long.toString(p.nextSeq()));
        } else {
            j.putNull("next_cursor");
        }
        return j;
    }
}
