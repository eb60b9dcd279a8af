package dev.tollgate.proxy.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.Conservation;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.escrow.settle.SettlementView;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.util.List;

/**
 * Settlement over the admin API: {@code POST /admin/v1/requests/{id}/score}, {@code GET /admin/v1/escrows/{id}},
 * {@code GET /admin/v1/statement?agent=}, and the {@code settlement} member of a request's JSON.
 */
public final class SettlementRoutes implements AdminRoutes, MeteringRoutes.RecordDecorator {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final SettlementService settlement;

    private final RemoteSettlementRoutes remote;

    public SettlementRoutes(SettlementService settlement) {
        this.settlement = settlement;
        this.remote = new RemoteSettlementRoutes(settlement.remoteOperations());
    }

    @Override
    public AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body) {
        String path = uri.path();
        if (path.startsWith("/admin/v1/settle/")) {
            return remote.handle(method, uri, body);
        }
        if (method.equals(HttpMethod.POST) && path.startsWith("/admin/v1/requests/") && path.endsWith("/score")) {
            String id = path.substring("/admin/v1/requests/".length(), path.length() - "/score".length());
            String score;
            try {
                JsonNode n = JSON.readTree(body);
                JsonNode s = n == null ? null : n.get("score");
                if (s == null || !(s.isTextual() || s.isNumber())) {
                    return AdminResponse.badRequest("Body must be {\"score\": \"0.93\"}.", "score");
                }
                score = s.isTextual() ? s.asText() : s.decimalValue().toPlainString();
            } catch (IOException e) {
                return AdminResponse.badRequest("Body must be JSON: {\"score\": \"0.93\"}.", null);
            }
            try {
                if (!settlement.score(id, score)) {
                    return AdminResponse.notFound("No settlement for request '" + id + "'.");
                }
            } catch (IllegalArgumentException | ArithmeticException e) {
                return AdminResponse.badRequest("A score is a decimal between 0 and 1.", "score");
            }
            return AdminResponse.json(200, settlementJson(settlement.settlement(id).orElseThrow()).toString());
        }
        if (method.equals(HttpMethod.GET) && !settlement.config().backend().equals("embedded")
                && (path.startsWith("/admin/v1/escrows/") || path.equals("/admin/v1/statement"))) {
            return remote.view(settlement, path, uri.parameters().get("agent"));
        }
        if (method.equals(HttpMethod.GET) && path.startsWith("/admin/v1/escrows/")) {
            String id = path.substring("/admin/v1/escrows/".length());
            EscrowState s = settlement.ledger().read(id);
            if (s == null) {
                return AdminResponse.notFound("No escrow '" + id + "'.");
            }
            ObjectNode j = JSON.createObjectNode();
            j.put("escrow_id", s.escrowId());
            j.put("payer", s.payer());
            j.put("payee", s.payee());
            j.put("status", s.status());
            j.put("locked_micros", s.lockedMicros());
            j.put("released_micros", s.releasedMicros());
            j.put("refunded_micros", s.refundedMicros());
            j.put("remaining_micros", s.remainingMicros());
            return AdminResponse.json(200, j.toString());
        }
        if (method.equals(HttpMethod.GET) && path.equals("/admin/v1/statement")) {
            List<String> agent = uri.parameters().get("agent");
            if (agent == null || agent.isEmpty() || agent.get(0).isBlank()) {
                Conservation c = settlement.conservation();
                ObjectNode j = JSON.createObjectNode();
                j.put("minted_micros", c.mintedMicros());
                j.put("agent_balances_micros", c.agentBalancesMicros());
                j.put("escrow_balances_micros", c.escrowBalancesMicros());
                j.put("fees_micros", c.feesMicros());
                j.put("fee_carry_micros", c.feeCarryMicros());
                j.put("conserved", c.holds());
                return AdminResponse.json(200, j.toString());
            }
            return AdminResponse.json(200, statementJson(settlement.statement(agent.get(0))).toString());
        }
        return null;
    }

    @Override
    public void decorate(String requestId, ObjectNode json) {
        settlement.settlement(requestId).ifPresent(s -> json.set("settlement", settlementJson(s)));
    }

    public static ObjectNode settlementJson(SettlementView s) {
        ObjectNode j = JSON.createObjectNode();
        j.put("policy", s.policy());
        j.put("state", s.state());
        j.put("escrow_id", s.escrowId());
        j.put("reserved_micros", s.reservedMicros());
        j.put("cost_micros", s.costMicros());
        j.put("released_micros", s.releasedMicros());
        j.put("refunded_micros", s.refundedMicros());
        j.put("bonus_micros", s.bonusMicros());
        return j;
    }

    public static ObjectNode statementJson(Statement s) {
        ObjectNode j = JSON.createObjectNode();
        j.put("agent", s.agent());
        j.put("balance_micros", s.balanceMicros());
        j.put("held_micros", s.heldMicros());
        j.put("spent_micros", s.spentMicros());
        j.put("refunded_micros", s.refundedMicros());
        j.put("earned_micros", s.earnedMicros());
        j.put("bonus_paid_micros", s.bonusPaidMicros());
        j.put("bonus_earned_micros", s.bonusEarnedMicros());
        j.put("fees_micros", s.feesMicros());
        j.put("referral_micros", s.referralMicros());
        j.put("credited_micros", s.creditedMicros());
        return j;
    }
}
