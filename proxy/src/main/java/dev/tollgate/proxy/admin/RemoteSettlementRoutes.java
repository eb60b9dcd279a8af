package dev.tollgate.proxy.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.PostPayView;
import dev.tollgate.escrow.settle.RemoteOperations;
import dev.tollgate.escrow.settle.SettlementService;
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
public final class RemoteSettlementRoutes implements AdminRoutes {
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

    /**
     * The statement ({@code /admin/v1/statement?agent=}, every pair without an agent) and escrow
     * ({@code /admin/v1/escrows/{id}}) views of a post-pay backend, from Tollgate's own records.
     */
    AdminResponse view(SettlementService settlement, String path, java.util.List<String> agent) {
        if (path.startsWith("/admin/v1/escrows/")) {
            String id = path.substring("/admin/v1/escrows/".length());
            PostPayView.Escrow e = settlement.postPayEscrow(id);
            if (e == null) {
                return AdminResponse.notFound("No escrow '" + id + "' was paid through this node.");
            }
            ObjectNode j = JSON.createObjectNode();
            j.put("escrow_id", e.escrowId()).put("op_id", e.opId()).put("payer", e.payer()).put("payee", e.worker())
                    .put("status", e.status()).put("amount_micros", e.amountMicros())
                    .put("fee_micros", e.feeMicros()).put("referral_micros", e.referralMicros())
                    .put("net_to_worker_micros", e.amountMicros() - e.feeMicros());
            return AdminResponse.json(200, j.toString());
        }
        String who = agent == null || agent.isEmpty() || agent.get(0).isBlank() ? null : agent.get(0);
        return AdminResponse.json(200, statementJson(who, settlement.postPayPairs(who)).toString());
    }

    /** Per payer x worker, with totals; shared with {@code tollgate ledger statement --json}. */
    public static ObjectNode statementJson(String agent, java.util.List<PostPayView.Pair> pairs) {
        ObjectNode root = JSON.createObjectNode();
        if (agent != null) {
            root.put("agent", agent);
        }
        root.put("backend", "purpleflea");
        ArrayNode list = root.putArray("pairs");
        long[] t = new long[8];
        for (PostPayView.Pair p : pairs) {
            list.addObject().put("payer", p.payer()).put("worker", p.worker())
                    .put("accrued_micros", p.accruedMicros()).put("paid_micros", p.paidMicros())
                    .put("pending_micros", p.pendingMicros()).put("unknown_micros", p.unknownMicros())
                    .put("owed_micros", p.owedMicros()).put("below_minimum", p.belowMinimum())
                    .put("fee_micros", p.feeMicros()).put("referral_micros", p.referralMicros())
                    .put("worker_received_micros", p.workerReceivedMicros()).put("escrows", p.escrows())
                    .put("standing", p.standing()).put("problem", p.problem());
            long[] v = {p.accruedMicros(), p.paidMicros(), p.pendingMicros(), p.unknownMicros(), p.owedMicros(),
                p.feeMicros(), p.referralMicros(), p.escrows()};
            for (int i = 0; i < t.length; i++) {
                t[i] += v[i];
            }
        }
        root.putObject("totals").put("accrued_micros", t[0]).put("paid_micros", t[1]).put("pending_micros", t[2])
                .put("unknown_micros", t[3]).put("owed_micros", t[4]).put("fee_micros", t[5])
                .put("referral_micros", t[6]).put("escrows", t[7]);
        return root;
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
