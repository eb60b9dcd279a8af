package dev.tollgate.proxy.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.RemoteOperations;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;

/**
 * Operator tooling for a remote escrow backend: {@code GET /admin/v1/settle/pending} (unknown and stuck
 * operations with age and reason, and the settlement health) and {@code POST /admin/v1/settle/resolve} with
 * {@code {"op_id": "...", "escrow_id": "esc_..."}} or {@code {"op_id": "...", "not_created": true}}. A resolution
 * reads the escrow from the service before anything is paid; a refusal is an OpenAI-shaped 400 and changes
 * nothing.
 *
 * <p>Threading: called on the admin event loop; database and service calls are short and rare (operator use).
 */
final class RemoteSettlementRoutes implements AdminRoutes {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final RemoteOperations ops;

    RemoteSettlementRoutes(RemoteOperations ops) {
        this.ops = ops;
    }

    @Override
    public AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body) {
        String path = uri.path();
        if (method.equals(HttpMethod.GET) && path.equals("/admin/v1/settle/pending")) {
            return AdminResponse.json(200, pendingJson(ops).toString());
        }
        if (method.equals(HttpMethod.POST) && path.equals("/admin/v1/settle/resolve")) {
            JsonNode req;
            try {
                req = JSON.readTree(body);
            } catch (IOException e) {
                req = null;
            }
            if (req == null || !req.path("op_id").isTextual()) {
                return AdminResponse.badRequest("Body must be {\"op_id\": \"...\", \"escrow_id\": \"esc_...\"} or "
                        + "{\"op_id\": \"...\", \"not_created\": true}.", "op_id");
            }
            boolean notCreated = req.path("not_created").asBoolean(false);
            String escrowId = req.path("escrow_id").isTextual() ? req.get("escrow_id").asText() : null;
            if (notCreated == (escrowId != null)) {
                return AdminResponse.badRequest("Give exactly one of escrow_id and not_created: true.", "escrow_id");
            }
            try {
                String result = notCreated ? ops.resolveNotCreated(req.get("op_id").asText())
                        : ops.resolveWithEscrow(req.get("op_id").asText(), escrowId);
                return AdminResponse.json(200, JSON.createObjectNode().put("op_id", req.get("op_id").asText())
                        .put("result", result).toString());
            } catch (IllegalArgumentException e) {
                return AdminResponse.badRequest(e.getMessage(), notCreated ? "op_id" : "escrow_id");
            }
        }
        return null;
    }

    static ObjectNode pendingJson(RemoteOperations ops) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode list = root.putArray("operations");
        for (RemoteOperations.Pending p : ops.pending()) {
            list.addObject().put("op_id", p.opId()).put("kind", p.kind()).put("account", p.payer())
                    .put("worker", p.worker()).put("amount_micros", p.amountMicros())
                    .put("amount", Micros.format(p.amountMicros())).put("state", p.state())
                    .put("age_seconds", p.ageMillis() / 1000).put("reason", p.reason());
        }
        RemoteOperations.Health h = ops.refreshNow();
        ObjectNode health = root.putObject("health");
        health.put("unknown_operations", h.unknownOperations()).put("unknown_micros", h.unknownMicros())
                .put("stuck_operations", h.stuckOperations());
        ArrayNode mis = health.putArray("misconfigured");
        for (RemoteOperations.Problem p : h.misconfigured()) {
            mis.addObject().put("account", p.payer()).put("worker", p.worker()).put("code", p.code())
                    .put("message", p.message());
        }
        return root;
    }
}
