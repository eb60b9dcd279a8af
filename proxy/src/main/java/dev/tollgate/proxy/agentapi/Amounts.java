package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tollgate.escrow.pricing.Micros;
import java.util.regex.Pattern;

/**
 * USDC amounts in agent API bodies: a decimal string as the seeds send it ({@code "10.00"}), or a JSON number
 * read exactly (the body is parsed with big decimals, never binary floats), to micro-USDC. More than 6
 * decimals, a sign, an exponent in a string, zero, a non-number or a value above the ledger's range is
 * {@code invalid_amount}.
 *
 * <p>Stateless.
 */
final class Amounts {
    private static final Pattern DECIMAL = Pattern.compile("[0-9]{1,13}(\\.[0-9]+)?");

    private Amounts() {
    }

    /** The positive amount in {@code field} of {@code body}; {@code required} false answers -1 when absent. */
    static long micros(JsonNode body, String field, boolean required) {
        JsonNode n = body == null ? null : body.get(field);
        if (n == null || n.isNull()) {
            if (required) {
                throw invalid(field, field + " is required: a decimal string of USDC such as \"10.00\".");
            }
            return -1;
        }
        String text;
        if (n.isTextual()) {
            text = n.textValue().trim();
        } else if (n.isNumber()) {
            text = n.decimalValue().toPlainString();
        } else {
            throw invalid(field, field + " must be a decimal string of USDC such as \"10.00\".");
        }
        if (!DECIMAL.matcher(text).matches()) {
            throw invalid(field, field + " must be a non-negative decimal with at most 6 decimals, got \""
                    + (text.length() > 40 ? text.substring(0, 40) + "..." : text) + "\".");
        }
        long micros;
        try {
            micros = Micros.parse(text);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw invalid(field, field + " has more than 6 decimals (USDC is exact to the micro), got \"" + text
                    + "\".");
        }
        if (micros == 0) {
            throw invalid(field, field + " must be more than 0.");
        }
        return micros;
    }

    private static ApiErrors.Refusal invalid(String field, String message) {
        return new ApiErrors.Refusal("invalid_amount", message, field);
    }
}
