package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.agent.AgentEscrows;
import java.util.concurrent.CompletableFuture;

/**
 * The escrow REST API in the seeds' shapes, for the caller's own account:
 * <pre>
 * POST /api/v1/escrow                      {to_agent_id, amount, memo?, auto_release_hours?, on_expiry?} -> 201
 * POST /api/v1/escrow/{id}/release         everything left to the payee
 * POST /api/v1/escrow/{id}/release-partial {amount}
 * POST /api/v1/escrow/{id}/refund          {amount?}  partial, or everything left (closes)
 * POST /api/v1/escrow/{id}/release-milestone {milestone}  one named tranche (milestone billing)
 * GET  /api/v1/escrow/{id}                 payer or payee; anyone else 404
 * GET  /api/v1/escrow?agent_id=&limit=&cursor=   the caller's escrows, newest first
 * GET  /api/v1/balance                     the caller's available balance
 * </pre>
 * Only the payer releases or refunds (the payee gets 403 {@code not_payer}). Every POST honours an
 * {@code Idempotency-Key} ({@link IdempotencyStore}).
 *
 * <p>Threading: {@link #answer} parses and validates on the caller's thread (an event loop: no database),
 * and hands every ledger read or write to {@link AgentEscrows#submit}; the future completes on the agent escrow
 * thread.
 */
final class EscrowRoutes {
    static final String PREFIX = "/api/v1/escrow";
    private static final int DEFAULT_PAGE = 50;
    private static final int MAX_PAGE = 200;

    private final EscrowCalls calls;
    private final AgentEscrows escrows;

    EscrowRoutes(EscrowCalls calls) {
        this.calls = calls;
        this.escrows = calls.escrows();
    }

    CompletableFuture<ApiAnswer> answer(AgentRequest r) {
        try {
            return route(r);
        } catch (ApiErrors.Refusal e) {
            return CompletableFuture.completedFuture(e.toAnswer());
        }
    }

    private CompletableFuture<ApiAnswer> route(AgentRequest r) {
        String path = r.path();
        boolean get = r.method().equals("GET");
        boolean post = r.method().equals("POST");
        if (path.equals("/api/v1/balance")) {
            if (!get) {
                throw notAllowed();
            }
            return CompletableFuture.completedFuture(calls.balance(r.account()));
        }
        if (path.equals(PREFIX)) {
            if (post) {
                return create(r);
            }
            if (get) {
                return list(r);
            }
            throw notAllowed();
        }
        if (!path.startsWith(PREFIX + "/")) {
            throw new ApiErrors.Refusal("not_found", "No route " + path + ".", null);
        }
        String[] parts = path.substring(PREFIX.length() + 1).split("/", -1);
        String id = parts[0];
        if (parts.length == 1) {
            if (!get) {
                throw notAllowed();
            }
            return calls.read(c -> escrows.read(c, r.account(), id));
        }
        if (parts.length != 2) {
            throw new ApiErrors.Refusal("not_found", "No route " + path + ".", null);
        }
        if (!post) {
            throw notAllowed();
        }
        JsonNode body = body(r);
        return switch (parts[1]) {
            case "release" -> post(r, 200, c -> escrows.release(c, r.account(), id));
            case "release-partial" -> {
                long amount = Amounts.micros(body, "amount", true);
                yield post(r, 200, c -> escrows.releasePart(c, r.account(), id, amount));
            }
            case "release-milestone" -> {
                com.fasterxml.jackson.databind.JsonNode m = body.get("milestone");
                if (m == null || !m.isTextual() || m.textValue().isEmpty()) {
                    throw new ApiErrors.Refusal("invalid_request", "milestone is required: the tranche's name.",
                            "milestone");
                }
                yield post(r, 200, c -> escrows.releaseMilestone(c, r.account(), id, m.textValue()));
            }
            case "refund" -> {
                long amount = Amounts.micros(body, "amount", false);
                yield post(r, 200, c -> escrows.refund(c, r.account(), id, amount));
            }
            default -> throw new ApiErrors.Refusal("not_found", "No route " + path + ".", null);
        };
    }

    private CompletableFuture<ApiAnswer> create(AgentRequest r) {
        CreateRequest q = CreateRequest.parse(body(r), escrows.defaultHours());
        String payer = r.account();
        return post(r, 201, c -> escrows.create(c, payer, q.payee(), q.micros(), q.memo(), q.hours(), q.onExpiry()));
    }

    private CompletableFuture<ApiAnswer> list(AgentRequest r) {
        String agent = r.queryParam("agent_id");
        if (agent != null && !agent.equals(r.account())) {
            // Another agent's escrows do not exist for this key.
            throw new ApiErrors.Refusal("not_found", "No agent '" + agent + "' visible to this API key.", "agent_id");
        }
        int limit = intParam(r, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
        long before = r.queryParam("cursor") == null ? Long.MAX_VALUE : intParam(r, "cursor", 0, 1, Long.MAX_VALUE);
        return calls.list(r.account(), before, limit);
    }

    private static long intParam(AgentRequest r, String name, long dflt, long min, long max) {
        String v = r.queryParam(name);
        if (v == null) {
            return dflt;
        }
        try {
            long n = Long.parseLong(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // Falls through to the refusal.
        }
        throw new ApiErrors.Refusal("invalid_request", name + " must be a whole number from " + min + " to " + max
                + ".", name);
    }

    private static int intParam(AgentRequest r, String name, int dflt, int min, int max) {
        return (int) intParam(r, name, (long) dflt, min, (long) max);
    }

    /** A POST's operation, with its {@code Idempotency-Key} if it has one. */
    private CompletableFuture<ApiAnswer> post(AgentRequest r, int okStatus, EscrowCalls.Op op) {
        String key = r.header("idempotency-key");
        if (key != null && (key.isBlank() || key.length() > IdempotencyStore.MAX_KEY_LENGTH)) {
            throw new ApiErrors.Refusal("invalid_idempotency_key", "Idempotency-Key must be 1 to "
                    + IdempotencyStore.MAX_KEY_LENGTH + " characters.", null);
        }
        String hash = key == null ? null : IdempotencyStore.requestHash(r.method(), r.path(), r.body());
        return calls.write(r.account(), key, hash, okStatus, op);
    }

    private static JsonNode body(AgentRequest r) {
        if (r.body().length == 0) {
            return EscrowJson.MAPPER.createObjectNode();
        }
        JsonNode n;
        try {
            n = EscrowJson.MAPPER.readTree(r.body());
        } catch (java.io.IOException e) {
            throw new ApiErrors.Refusal("invalid_json", "The body is not valid JSON.", null);
        }
        if (n == null || n.isMissingNode()) {
            return EscrowJson.MAPPER.createObjectNode();
        }
        if (!n.isObject()) {
            throw new ApiErrors.Refusal("invalid_json", "The body must be a JSON object.", null);
        }
        return n;
    }

    private static ApiErrors.Refusal notAllowed() {
        return new ApiErrors.Refusal("method_not_allowed", "Method not allowed on this route.", null);
    }
}
