package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.agent.AgentEscrows;

/**
 * A validated escrow creation: {@code {to_agent_id, amount, memo?, auto_release_hours?, on_expiry?}}, from a
 * REST body or MCP tool arguments alike.
 *
 * @param payee    {@code to_agent_id}
 * @param micros   {@code amount} in micro-USDC
 * @param memo     free text, empty when absent
 * @param hours    {@code auto_release_hours}, or the configured default
 * @param onExpiry {@code release} (default: auto-release pays the payee) or {@code refund}
 */
record CreateRequest(String payee, long micros, String memo, long hours, String onExpiry) {
    static final int MAX_MEMO = 1000;

    /** Validates on the caller's thread (no database); throws {@link ApiErrors.Refusal}. */
    static CreateRequest parse(JsonNode body, long defaultHours) {
        JsonNode to = body.get("to_agent_id");
        if (to == null || !to.isTextual() || to.textValue().isEmpty()) {
            throw new ApiErrors.Refusal("invalid_request", "to_agent_id is required: the agent to pay.",
                    "to_agent_id");
        }
        long amount = Amounts.micros(body, "amount", true);
        JsonNode memoNode = body.get("memo");
        if (memoNode != null && !memoNode.isNull() && !memoNode.isTextual()) {
            throw new ApiErrors.Refusal("invalid_request", "memo must be a string.", "memo");
        }
        String memo = memoNode == null || memoNode.isNull() ? "" : memoNode.textValue();
        if (memo.length() > MAX_MEMO) {
            throw new ApiErrors.Refusal("invalid_request", "memo is longer than " + MAX_MEMO + " characters.", "memo");
        }
        JsonNode onExpiry = body.get("on_expiry");
        String expiry = onExpiry == null || onExpiry.isNull() ? "release" : onExpiry.asText();
        if (!(expiry.equals("release") || expiry.equals("refund"))) {
            throw new ApiErrors.Refusal("invalid_request", "on_expiry must be \"release\" or \"refund\".", "on_expiry");
        }
        return new CreateRequest(to.textValue(), amount, memo, hours(body.get("auto_release_hours"), defaultHours),
                expiry);
    }

    private static long hours(JsonNode n, long defaultHours) {
        if (n == null || n.isNull()) {
            return defaultHours;
        }
        if (n.isIntegralNumber() && n.canConvertToLong()) {
            return n.longValue();
        }
        if (n.isNumber() && n.decimalValue().stripTrailingZeros().scale() <= 0) {
            return n.decimalValue().longValue();
        }
        throw new ApiErrors.Refusal("invalid_request", "auto_release_hours must be a whole number of hours from 1 to "
                + AgentEscrows.MAX_HOURS + ".", "auto_release_hours");
    }
}
