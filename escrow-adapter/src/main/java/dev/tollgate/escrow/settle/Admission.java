package dev.tollgate.escrow.settle;

/**
 * The answer to "may this request go to the upstream?": admitted (with its escrow), refused for payment (HTTP
 * 402), or refused because the request itself cannot be priced (HTTP 400, with the offending parameter).
 */
public record Admission(boolean admitted, String message, String escrowId, int status, String param) {
    public static final Admission FREE = new Admission(true, null, null, 200, null);

    public static Admission granted(String escrowId) {
        return new Admission(true, null, escrowId, 200, null);
    }

    public static Admission paymentRequired(String message) {
        return new Admission(false, message, null, 402, null);
    }

    /** Settlement for this account cannot work until the operator fixes its configuration (HTTP 503). */
    public static Admission misconfigured(String message) {
        return new Admission(false, message, null, 503, null);
    }

    public static Admission invalid(String message, String param) {
        return new Admission(false, message, null, 400, param);
    }
}
