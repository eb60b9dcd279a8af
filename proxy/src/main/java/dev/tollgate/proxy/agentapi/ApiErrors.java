package dev.tollgate.proxy.agentapi;

import dev.tollgate.proxy.http.OpenAiError;

/**
 * The agent API's errors: one JSON shape for all of them, Tollgate's OpenAI-style
 * {@code {"error":{"message","type","param","code"}}}, with a stable {@code code} and its HTTP status:
 * {@code invalid_amount}, {@code invalid_request}, {@code invalid_json}, {@code invalid_idempotency_key} 400;
 * {@code insufficient_balance} 402; {@code not_payer} 403; {@code not_found} 404; {@code method_not_allowed}
 * 405; {@code already_settled} 409; {@code idempotency_key_reused} 422; {@code not_supported} 501;
 * {@code unavailable} 503.
 *
 * <p>Stateless.
 */
public final class ApiErrors {
    private ApiErrors() {
    }

    /** The HTTP status of an error code. */
    public static int status(String code) {
        return switch (code) {
            case "insufficient_balance" -> 402;
            case "not_payer" -> 403;
            case "not_found" -> 404;
            case "method_not_allowed" -> 405;
            case "already_settled" -> 409;
            case "idempotency_key_reused" -> 422;
            case "not_supported" -> 501;
            case "unavailable" -> 503;
            default -> 400;
        };
    }

    private static String type(int status) {
        return switch (status) {
            case 402 -> "insufficient_quota";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 501, 503 -> "server_error";
            default -> "invalid_request_error";
        };
    }

    public static ApiAnswer answer(String code, String message, String param) {
        int status = status(code);
        ApiAnswer a = ApiAnswer.json(status, OpenAiError.json(message, type(status), param, code));
        return status == 405 ? a.withHeader("allow", "GET, POST") : a;
    }

    public static ApiAnswer answer(String code, String message) {
        return answer(code, message, null);
    }

    /** An agent API refusal thrown while answering; caught and turned into {@link #answer}. */
    public static final class Refusal extends RuntimeException {
        private final String code;
        private final String param;

        public Refusal(String code, String message, String param) {
            super(message, null, false, false);
            this.code = code;
            this.param = param;
        }

        public ApiAnswer toAnswer() {
            return answer(code, getMessage(), param);
        }
    }
}
