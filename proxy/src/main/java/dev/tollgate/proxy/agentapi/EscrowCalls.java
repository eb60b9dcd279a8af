package dev.tollgate.proxy.agentapi;

import dev.tollgate.escrow.agent.AgentEscrow;
import dev.tollgate.escrow.agent.AgentEscrowException;
import dev.tollgate.escrow.agent.AgentEscrows;
import dev.tollgate.escrow.pricing.Micros;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;

/**
 * The escrow operations both faces of the agent API share (REST in {@link EscrowRoutes}, MCP tools in
 * {@link EscrowTools}): each runs on the agent escrow thread in one transaction and answers an
 * {@link ApiAnswer} (an escrow's JSON, or an error in the one error shape). A write with an idempotency key
 * answers the stored answer of an earlier identical request, or 422 for a different one, and stores its own
 * answer in the same transaction as its ledger operation.
 *
 * <p>Threading: any thread may call; the work runs on {@link AgentEscrows#submit}'s thread.
 */
final class EscrowCalls {
    /** One ledger operation, run inside its transaction on the agent escrow thread. */
    @FunctionalInterface
    interface Op {
        AgentEscrow run(Connection c) throws SQLException;
    }

    private final AgentEscrows escrows;
    private final Clock clock;

    EscrowCalls(AgentEscrows escrows, Clock clock) {
        this.escrows = escrows;
        this.clock = clock;
    }

    AgentEscrows escrows() {
        return escrows;
    }

    CompletableFuture<ApiAnswer> read(Op op) {
        return escrows.submit(c -> {
            try {
                return ApiAnswer.json(200, json(c, op.run(c)));
            } catch (AgentEscrowException e) {
                return ApiErrors.answer(e.code(), e.getMessage());
            }
        });
    }

    /**
     * @param key         the idempotency key, or null
     * @param requestHash what must match for a repeat to count as the same request (with a key)
     */
    CompletableFuture<ApiAnswer> write(String account, String key, String requestHash, int okStatus, Op op) {
        return escrows.submit(c -> {
            if (key != null) {
                IdempotencyStore.Stored s = IdempotencyStore.find(c, account, key);
                if (s != null) {
                    return s.requestHash().equals(requestHash)
                            ? s.answer().withHeader("idempotent-replayed", "true")
                            : ApiErrors.answer("idempotency_key_reused", "This Idempotency-Key was used for a "
                            + "different request; use a new key for a new request.");
                }
            }
            ApiAnswer a;
            try {
                a = ApiAnswer.json(okStatus, json(c, op.run(c)));
            } catch (AgentEscrowException e) {
                a = ApiErrors.answer(e.code(), e.getMessage());
            }
            if (key != null) {
                IdempotencyStore.save(c, account, key, requestHash, a, clock.millis());
            }
            return a;
        });
    }

    /** An escrow's JSON, with its milestones (name, amount, released) when it has any. */
    private String json(Connection c, AgentEscrow e) throws SQLException {
        return withMilestones(c, EscrowJson.escrow(e), e.id()).toString();
    }

    private com.fasterxml.jackson.databind.node.ObjectNode withMilestones(Connection c,
            com.fasterxml.jackson.databind.node.ObjectNode j, String id) throws SQLException {
        java.util.List<String> names = new java.util.ArrayList<>();
        java.util.List<long[]> tranches = escrows.milestoneAmounts(c, id, names);
        if (!tranches.isEmpty()) {
            com.fasterxml.jackson.databind.node.ArrayNode a = j.putArray("milestones");
            for (int i = 0; i < tranches.size(); i++) {
                a.addObject().put("name", names.get(i)).put("amount", Micros.format(tranches.get(i)[0]))
                        .put("released", tranches.get(i)[1] == 1);
            }
        }
        return j;
    }

    CompletableFuture<ApiAnswer> list(String account, long beforeSeq, int limit) {
        return escrows.submit(c -> {
            com.fasterxml.jackson.databind.node.ObjectNode page = EscrowJson.page(escrows.list(c, account, beforeSeq,
                    limit));
            for (com.fasterxml.jackson.databind.JsonNode e : page.get("escrows")) {
                withMilestones(c, (com.fasterxml.jackson.databind.node.ObjectNode) e, e.get("escrow_id").asText());
            }
            return ApiAnswer.json(200, page.toString());
        });
    }

    /** The caller's available balance (from memory: no database). */
    ApiAnswer balance(String account) {
        return ApiAnswer.json(200, EscrowJson.MAPPER.createObjectNode().put("agent_id", account)
                .put("available", Micros.format(escrows.available(account))).toString());
    }
}
