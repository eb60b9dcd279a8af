package dev.tollgate.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.settle.RemoteOperations;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code /readyz} with a remote settlement backend: what makes the node unready, and what only degrades it. */
class SettlementReadinessTest {
    static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode body(AdminResponse r) throws Exception {
        return JSON.readTree(r.body());
    }

    @Test
    void onlyMisconfigurationStuckOperationsOrNoUpstreamMakeItUnready() throws Exception {
        AdminResponse ok = SettlementReadiness.readyz(true, new RemoteOperations.Health(0, 0, 0, List.of()));
        assertEquals(200, ok.status());
        assertEquals("ok", body(ok).get("settlement").get("status").asText());

        AdminResponse unknown = SettlementReadiness.readyz(true, new RemoteOperations.Health(2, 230_000, 0, List.of()));
        assertEquals(200, unknown.status(), "an operator's work, the node still settles");
        assertEquals("degraded", body(unknown).get("settlement").get("status").asText());
        assertEquals(230_000, body(unknown).get("settlement").get("unknown_micros").asLong());

        AdminResponse stuck = SettlementReadiness.readyz(true, new RemoteOperations.Health(0, 0, 1, List.of()));
        assertEquals(503, stuck.status());
        assertEquals("settlement stuck", body(stuck).get("status").asText());

        AdminResponse mis = SettlementReadiness.readyz(true, new RemoteOperations.Health(0, 0, 0, List.of(
                new RemoteOperations.Problem("ag_a", "ag_w", "counterparty_not_found", "not found"))));
        assertEquals(503, mis.status());
        JsonNode p = body(mis).get("settlement").get("misconfigured").get(0);
        assertEquals("ag_a ag_w counterparty_not_found", p.get("account").asText() + " " + p.get("worker").asText()
                + " " + p.get("code").asText());

        assertEquals(503, SettlementReadiness.readyz(false, new RemoteOperations.Health(0, 0, 0, List.of())).status());
    }
}
