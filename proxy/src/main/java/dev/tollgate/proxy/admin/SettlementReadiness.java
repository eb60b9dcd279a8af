package dev.tollgate.proxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.settle.RemoteOperations;

/**
 * {@code /readyz} with a remote settlement backend: not ready (503) when no upstream is healthy, when the escrow
 * service refused a payer x worker for a configuration error ({@code misconfigured}), or when operations have not
 * finished for 10 minutes ({@code stuck}); ready but {@code degraded} when only operations of unknown outcome wait
 * for an operator ({@code tollgate settle pending}). The body says why. Stateless.
 */
final class SettlementReadiness {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SettlementReadiness() {
    }

    static AdminResponse readyz(boolean upstreamHealthy, RemoteOperations.Health h) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode s = JSON.createObjectNode();
        String settlement = !h.misconfigured().isEmpty() ? "misconfigured" : h.stuckOperations() > 0 ? "stuck"
                : h.unknownOperations() > 0 ? "degraded" : "ok";
        s.put("status", settlement);
        s.put("unknown_operations", h.unknownOperations());
        s.put("unknown_micros", h.unknownMicros());
        s.put("stuck_operations", h.stuckOperations());
        ArrayNode problems = s.putArray("misconfigured");
        for (RemoteOperations.Problem p : h.misconfigured()) {
            problems.addObject().put("account", p.payer()).put("worker", p.worker()).put("code", p.code())
                    .put("message", p.message());
        }
        boolean ready = upstreamHealthy && (settlement.equals("ok") || settlement.equals("degraded"));
        root.put("status", ready ? "ready" : !upstreamHealthy ? "no healthy upstream" : "settlement " + settlement);
        root.set("settlement", s);
        return AdminResponse.json(ready ? 200 : 503, root.toString());
    }
}
