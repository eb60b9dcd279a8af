package dev.tollgate.escrow.settle;

/** The answer to "may this request go to the upstream?": admitted (with its escrow), or refused (HTTP 402). */
public record Admission(boolean admitted, String message, String escrowId) {
    public static final Admission FREE = new Admission(true, null, null);

    public static Admission granted(String escrowId) {
        return new Admission(true, null, escrowId);
    }

    public static Admission paymentRequired(String message) {
        return new Admission(false, message, null);
    }
}
