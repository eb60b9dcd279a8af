package dev.tollgate.escrow.settle;

/**
 * What a remote backend without idempotency or listing tells the settler beyond {@link
 * dev.tollgate.escrow.port.EscrowResult}: an ambiguous create (its message starts with {@link
 * #CREATE_UNANSWERED}) cannot be read back, so the settler moves it aside for an operator instead of letting it
 * block the payer x worker's later payments; and a rate-limited backend says when a retry may go
 * ({@link RetryAfter}).
 */
public final class RemoteHints {
    /** Prefix of an {@code Ambiguous} message for a create that was sent and never answered. */
    public static final String CREATE_UNANSWERED = "create_unanswered: ";

    private RemoteHints() {
    }

    /** A backend that knows the earliest time a refused ({@code Retryable}) call may be tried again. */
    public interface RetryAfter {
        /** Epoch milliseconds before which a retry would be refused again; at most now when none. */
        long retryNotBeforeMillis();
    }
}
