package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.agent.AgentEscrows;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.agent.UsageTotals;
import io.modelcontextprotocol.common.McpTransportContext;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.server.McpStatelessServerFeatures.AsyncToolSpecification;
import io.modelcontextprotocol.spec.McpSchema;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiFunction;
import reactor.core.publisher.Mono;

/**
 * The agent API's MCP tools: {@code escrow_create}, {@code escrow_release} (full, or partial with
 * {@code amount}), {@code escrow_refund}, {@code escrow_status}, {@code escrow_list}, {@code balance_get},
 * {@code usage_get}. Each has a JSON schema for its input (the SDK validates arguments against it before the
 * tool runs) and annotations: the readers are read-only and idempotent; the writers are not idempotent unless
 * given an {@code idempotency_key} (stored like a REST {@code Idempotency-Key}). A tool answers the REST
 * API's JSON (an escrow, a page, or the one error shape) as text and as structured content; an error is a
 * result with {@code isError} set, never a protocol error.
 *
 * <p>Threading: handlers are called wherever the SDK's handler runs (a client event loop); validation is done
 * there, ledger work on the agent escrow thread.
 */
final class EscrowTools {
    private static final String AMOUNT = "{\"type\":\"string\",\"pattern\":\"^[0-9]{1,13}(\\\\.[0-9]{1,6})?$\","
            + "\"description\":\"USDC as a decimal string with at most 6 decimals, e.g. \\\"10.00\\\"\"}";
    private static final String ESCROW_ID = "{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,"
            + "\"description\":\"The escrow id (esc_...)\"}";
    private static final String KEY = "{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,\"description\":"
            + "\"Optional: a repeat with the same key answers the first answer instead of acting twice\"}";

    private final EscrowCalls calls;
    private final AgentEscrows escrows;
    private final MeteringAgent metering;
    private final McpJsonMapper json;

    EscrowTools(EscrowCalls calls, MeteringAgent metering, McpJsonMapper json) {
        this.calls = calls;
        this.escrows = calls.escrows();
        this.metering = metering;
        this.json = json;
    }

    List<AsyncToolSpecification> all() {
        return List.of(
                tool("escrow_create", "Lock USDC from your balance in an escrow for another agent (any billing "
                        + "pattern: per task, subscription with auto_release_hours, milestones, overage pools).",
                        "{\"type\":\"object\",\"properties\":{\"to_agent_id\":{\"type\":\"string\",\"minLength\":1,"
                                + "\"maxLength\":128},\"amount\":" + AMOUNT + ",\"memo\":{\"type\":\"string\","
                                + "\"maxLength\":1000},\"auto_release_hours\":{\"type\":\"integer\",\"minimum\":1,"
                                + "\"maximum\":" + AgentEscrows.MAX_HOURS + "},\"on_expiry\":{\"type\":\"string\","
                                + "\"enum\":[\"release\",\"refund\"]},\"idempotency_key\":" + KEY + "},"
                                + "\"required\":[\"to_agent_id\",\"amount\"],\"additionalProperties\":false}",
                        false, false, false, this::create),
                tool("escrow_release", "Release an escrow you pay: everything left, only `amount` (a partial "
                        + "release, e.g. per batch of tokens), or one named `milestone` tranche.",
                        "{\"type\":\"object\",\"properties\":{\"escrow_id\":" + ESCROW_ID + ",\"amount\":" + AMOUNT
                                + ",\"milestone\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128},"
                                + "\"idempotency_key\":" + KEY + "},\"required\":[\"escrow_id\"],"
                                + "\"additionalProperties\":false}",
                        false, false, true, (account, a) -> write(account, "escrow_release", a, 200,
                                releaseOp(account, a))),
                tool("escrow_refund", "Refund an escrow you pay back to yourself: everything left (closes it), or "
                        + "only `amount`.",
                        "{\"type\":\"object\",\"properties\":{\"escrow_id\":" + ESCROW_ID + ",\"amount\":" + AMOUNT
                                + ",\"idempotency_key\":" + KEY + "},\"required\":[\"escrow_id\"],"
                                + "\"additionalProperties\":false}",
                        false, false, true, (account, a) -> {
                            String id = a.get("escrow_id").asText();
                            long amount = Amounts.micros(a, "amount", false);
                            return write(account, "escrow_refund", a, 200, c -> escrows.refund(c, account, id, amount));
                        }),
                tool("escrow_status", "An escrow you pay or are paid by: status, amount, released, refunded, "
                        + "remaining, expiry.",
                        "{\"type\":\"object\",\"properties\":{\"escrow_id\":" + ESCROW_ID + "},\"required\":"
                                + "[\"escrow_id\"],\"additionalProperties\":false}",
                        true, true, false, (account, a) -> calls.read(c -> escrows.read(c, account,
                                a.get("escrow_id").asText()))),
                tool("escrow_list", "Your escrows (as payer or payee), newest first, a page at a time.",
                        "{\"type\":\"object\",\"properties\":{\"limit\":{\"type\":\"integer\",\"minimum\":1,"
                                + "\"maximum\":200},\"cursor\":{\"type\":\"string\",\"pattern\":\"^[1-9][0-9]{0,18}$\"}},"
                                + "\"additionalProperties\":false}",
                        true, true, false, (account, a) -> calls.list(account,
                                a.hasNonNull("cursor") ? Long.parseLong(a.get("cursor").asText()) : Long.MAX_VALUE,
                                a.hasNonNull("limit") ? a.get("limit").asInt() : 50)),
                tool("balance_get", "Your available balance: what you can lock now.",
                        "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
                        true, true, false, (account, a) -> CompletableFuture.completedFuture(calls.balance(account))),
                tool("usage_get", "Your metered inference usage through this proxy: requests and tokens.",
                        "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
                        true, true, false, (account, a) -> CompletableFuture.completedFuture(usage(account))));
    }

    private CompletableFuture<ApiAnswer> create(String account, ObjectNode a) {
        CreateRequest q = CreateRequest.parse(a, escrows.defaultHours());
        return write(account, "escrow_create", a, 201,
                c -> escrows.create(c, account, q.payee(), q.micros(), q.memo(), q.hours(), q.onExpiry()));
    }

    private EscrowCalls.Op releaseOp(String account, ObjectNode a) {
        String id = a.get("escrow_id").asText();
        long amount = Amounts.micros(a, "amount", false);
        if (a.hasNonNull("milestone")) {
            if (amount >= 0) {
                throw new ApiErrors.Refusal("invalid_request", "Give either amount or milestone, not both.", "milestone");
            }
            String name = a.get("milestone").asText();
            return c -> escrows.releaseMilestone(c, account, id, name);
        }
        return amount < 0 ? c -> escrows.release(c, account, id) : c -> escrows.releasePart(c, account, id, amount);
    }

    private CompletableFuture<ApiAnswer> write(String account, String tool, ObjectNode args, int okStatus,
                                               EscrowCalls.Op op) {
        JsonNode keyNode = args.remove("idempotency_key");
        String key = keyNode == null || keyNode.isNull() ? null : keyNode.asText();
        String hash = key == null ? null : IdempotencyStore.requestHash("MCP", tool,
                args.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return calls.write(account, key, hash, okStatus, op);
    }

    private ApiAnswer usage(String account) {
        UsageTotals t = metering.totals(account);
        return ApiAnswer.json(200, EscrowJson.MAPPER.createObjectNode().put("account", account)
                .put("requests", t.requests()).put("prompt_tokens", t.promptTokens())
                .put("completion_tokens", t.completionTokens()).toString());
    }

    /** A tool handler: the caller's account and the (schema-checked) arguments in, an answer out. */
    @FunctionalInterface
    private interface Handler {
        CompletableFuture<ApiAnswer> call(String account, ObjectNode args);
    }

    private AsyncToolSpecification tool(String name, String description, String schema, boolean readOnly,
                                        boolean idempotent, boolean destructive, Handler handler) {
        McpSchema.Tool tool = McpSchema.Tool.builder(name, json, schema).description(description)
                .annotations(McpSchema.ToolAnnotations.builder().readOnlyHint(readOnly).idempotentHint(idempotent)
                        .destructiveHint(destructive).openWorldHint(false).build())
                .build();
        BiFunction<McpTransportContext, McpSchema.CallToolRequest, Mono<McpSchema.CallToolResult>> call =
                (ctx, req) -> {
                    String account = (String) ctx.get(McpTransport.ACCOUNT);
                    ObjectNode args = req.arguments() == null ? EscrowJson.MAPPER.createObjectNode()
                            : EscrowJson.MAPPER.valueToTree(req.arguments());
                    CompletableFuture<ApiAnswer> answer;
                    try {
                        answer = handler.call(account, args);
                    } catch (ApiErrors.Refusal e) {
                        answer = CompletableFuture.completedFuture(e.toAnswer());
                    }
                    return Mono.fromFuture(answer).map(this::result);
                };
        return new AsyncToolSpecification(tool, call);
    }

    private McpSchema.CallToolResult result(ApiAnswer a) {
        Map<String, Object> structured;
        try {
            structured = EscrowJson.MAPPER.readValue(a.body(),
                    new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() { });
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        return McpSchema.CallToolResult.builder()
                .content(List.of(McpSchema.TextContent.builder(a.body()).build()))
                .structuredContent(structured)
                .isError(a.status() >= 400)
                .build();
    }
}
