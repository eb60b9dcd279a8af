package dev.tollgate.escrow.purpleflea;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.Capabilities;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.RemoteHints;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;

/**
 * The Purple Flea escrow service over HTTP ({@code POST /escrow/create}, {@code POST /escrow/release/:id},
 * {@code GET /escrow/:id}). The service has no partial release, no refund call and no idempotency: so
 * Tollgate settles post-pay, each payment an escrow created for the amount owed and released whole
 * ({@link #pay}); locks and partial releases are not offered ({@link #capabilities}).
 *
 * <p>Identity: each payment is created and released with the payer's own key ({@link PurpleFleaKeys}), so it is
 * debited from the payer's wallet.
 *
 * <p>Never paying twice: the operation id goes into the escrow's description; before the create call the
 * operation is recorded as {@code creating}, and the escrow id is recorded the moment the 201 arrives. A create
 * that provably never left (connection refused, DNS, TLS handshake) or that the service refused is forgotten and
 * may be retried; a create whose answer was lost is never repeated (the service cannot be asked which escrows
 * exist): it is reported as {@link RemoteHints#CREATE_UNANSWERED} for an operator, and its escrow, if any, was
 * created with a short timeout ({@code escrowTimeoutHours}) so that the service refunds an orphan to the payer
 * early. A release is retried only after reading the escrow; 409 on release means "read the state".
 *
 * <p>Rate limits: creates are paced under the service's per-address limit (20 a minute) and a {@code 429} pauses
 * creates or releases ({@link CreatePacer}); the settler asks {@link #retryNotBeforeMillis} when to try again.
 *
 * <p>Threading: thread-safe.
 */
public final class PurpleFleaEscrow implements EscrowPort, RemoteHints.RetryAfter {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The service's per-address limits per minute. */
    static final int CREATES_PER_MINUTE = 20;

    private final PurpleFleaHttp http;
    private final PurpleFleaKeys keys;
    private final RemoteEscrowRows rows;
    private final long minimumMicros;
    private final Clock clock;
    private final int escrowTimeoutHours;
    private final CreatePacer creates = new CreatePacer(CREATES_PER_MINUTE);
    // The service counts releases per escrow path (each escrow its own bucket): only a 429 pauses them.
    private final CreatePacer releases = new CreatePacer(Integer.MAX_VALUE);

    /** One key for every payer, the system clock, escrows that time out after an hour. */
    public PurpleFleaEscrow(URI base, String apiKey, Database db, long minimumMicros, Duration timeout) {
        this(base, PurpleFleaKeys.single(apiKey), db, minimumMicros, timeout, Clock.systemUTC(), 1);
    }

    /**
     * @param timeout            per call (connect and answer)
     * @param escrowTimeoutHours the escrows' {@code timeout_hours}: how soon the service refunds an escrow nobody
     *                           released (an orphan of a lost create answer), in [1, 720]
     */
    public PurpleFleaEscrow(URI base, PurpleFleaKeys keys, Database db, long minimumMicros, Duration timeout,
                            Clock clock, int escrowTimeoutHours) {
        this.http = new PurpleFleaHttp(base, timeout);
        this.keys = keys;
        this.rows = new RemoteEscrowRows(db);
        this.minimumMicros = minimumMicros;
        this.clock = clock;
        this.escrowTimeoutHours = escrowTimeoutHours;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(false, false, false, minimumMicros, true);
    }

    @Override
    public EscrowResult lock(String opId, LockRequest request) {
        return new EscrowResult.Rejected("unsupported", "the Purple Flea service settles post-pay; no locks");
    }

    @Override
    public EscrowResult releaseTo(String opId, String escrowId, long cumulativeTargetMicros) {
        return new EscrowResult.Rejected("unsupported", "no partial release on the Purple Flea service");
    }

    @Override
    public EscrowResult refundRemainder(String opId, String escrowId) {
        return new EscrowResult.Rejected("unsupported", "no refund call on the Purple Flea service");
    }

    @Override
    public long retryNotBeforeMillis() {
        long now = clock.millis();
        return Math.max(creates.notBefore(now), releases.notBefore(now));
    }

    /** Creates an escrow of {@code amountMicros} from the payer's wallet for the payee and releases it whole. */
    @Override
    public EscrowResult pay(String opId, String payer, String payee, long amountMicros) {
        if (amountMicros < minimumMicros) {
            return new EscrowResult.Rejected("invalid_amount", "below the service minimum of "
                    + Micros.format(minimumMicros));
        }
        String key = keys.keyOf(payer);
        if (key == null) {
            return new EscrowResult.Rejected("no_api_key", "no Purple Flea API key is configured for " + payer);
        }
        RemoteEscrowRows.Row row = rows.find(opId);
        if (row == null) {
            long now = clock.millis();
            if (creates.notBefore(now) > now) {
                return new EscrowResult.Retryable("rate_limited: creates paused until " + creates.notBefore(now));
            }
            rows.record(opId, null, "creating", amountMicros, now);
            creates.sent(now);
            PurpleFleaHttp.Answer a = http.call("POST", "/escrow/create", createBody(opId, payee, amountMicros), key);
            if (a.delivery() == PurpleFleaHttp.Delivery.LOST) {
                return new EscrowResult.Ambiguous(RemoteHints.CREATE_UNANSWERED + a.error());
            }
            if (a.answered() && a.status() >= 500 && !a.code().equals("debit_failed")
                    && !a.code().equals("internal_error")) {
                // Not the service's own "nothing was created" errors (a gateway's 502/504, say): may have applied.
                return new EscrowResult.Ambiguous(RemoteHints.CREATE_UNANSWERED + "create answered " + a.status());
            }
            if (!a.answered() || a.status() != 201) {
                rows.forget(opId); // Nothing was created: a retry may create.
                if (!a.answered()) {
                    return new EscrowResult.Retryable("not sent: " + a.error());
                }
                if (a.status() == 429) {
                    creates.limited(clock.millis(), a.retryAfterMillis());
                }
                return classify(a);
            }
            String escrowId = a.json() == null ? "" : a.json().path("escrow_id").asText("");
            if (escrowId.isEmpty()) {
                return new EscrowResult.Ambiguous(RemoteHints.CREATE_UNANSWERED + "201 without an escrow_id");
            }
            rows.record(opId, escrowId, "created", amountMicros, clock.millis());
            row = new RemoteEscrowRows.Row(escrowId, "created");
        }
        if (row.remoteId() == null) {
            return new EscrowResult.Ambiguous(RemoteHints.CREATE_UNANSWERED + "the create for " + opId
                    + " was sent but never answered; find the escrow whose description names this operation");
        }
        return release(opId, row.remoteId(), payer, payee, amountMicros, key);
    }

    private String createBody(String opId, String payee, long amountMicros) {
        ObjectNode body = JSON.createObjectNode();
        body.put("amount_usd", new BigDecimal(Micros.format(amountMicros)));
        body.put("description", "tollgate op=" + opId);
        body.put("counterparty_agent_id", payee);
        body.put("timeout_hours", escrowTimeoutHours);
        return body.toString();
    }

    private EscrowResult release(String opId, String escrowId, String payer, String payee, long amountMicros,
                                 String key) {
        long now = clock.millis();
        if (releases.notBefore(now) > now) {
            return new EscrowResult.Retryable("rate_limited: releases paused until " + releases.notBefore(now));
        }
        releases.sent(now);
        PurpleFleaHttp.Answer a = http.call("POST", "/escrow/release/" + escrowId, null, key);
        if (a.answered() && a.status() == 200) {
            long commission = a.json() == null || !a.json().has("commission")
                    ? PurpleFleaFees.commission(amountMicros) : micros(a.json().path("commission"));
            long referral = a.json() == null || !a.json().has("referral_commission")
                    ? 0 : micros(a.json().path("referral_commission"));
            rows.released(opId, escrowId, payer, payee, amountMicros, commission, referral, clock.millis());
            return new EscrowResult.Done(escrowId, null);
        }
        if (a.delivery() == PurpleFleaHttp.Delivery.NOT_SENT) {
            return new EscrowResult.Retryable("not sent: " + a.error());
        }
        if (a.answered() && a.status() == 429) {
            releases.limited(clock.millis(), a.retryAfterMillis());
            return classify(a);
        }
        if (!a.answered() || a.status() == 409 || a.status() >= 500) {
            // Read before any retry: the release may have happened.
            EscrowState s = read(escrowId);
            if (s != null && s.status().equals("released")) {
                rows.released(opId, escrowId, payer, payee, amountMicros, PurpleFleaFees.commission(amountMicros),
                        0, clock.millis());
                return new EscrowResult.Done(escrowId, s);
            }
            if (s != null && (s.status().equals("refunded") || s.status().equals("disputed"))) {
                return new EscrowResult.Rejected(s.status(), "escrow " + escrowId + " is " + s.status());
            }
            return new EscrowResult.Ambiguous(!a.answered() ? a.error() : "release answered " + a.status());
        }
        return classify(a);
    }

    /** Reads an escrow (unauthenticated: the service shows amount, status, parties and description to anyone). */
    @Override
    public EscrowState read(String escrowId) {
        PurpleFleaEscrowView v = view(escrowId);
        return v == null ? null : v.state();
    }

    /** The escrow as the service shows it, with its description, or null when unknown or unreadable now. */
    public PurpleFleaEscrowView view(String escrowId) {
        PurpleFleaHttp.Answer a = http.call("GET", "/escrow/" + escrowId, null, null);
        if (!a.answered() || a.status() != 200 || a.json() == null) {
            return null;
        }
        JsonNode j = a.json();
        long amount = micros(j.path("amount_usd"));
        String status = j.path("status").asText();
        EscrowState s = new EscrowState(escrowId, j.path("creator_id").asText(), j.path("counterparty_id").asText(),
                amount, status.equals("released") ? amount : 0, status.equals("refunded") ? amount : 0, status);
        return new PurpleFleaEscrowView(s, j.path("description").asText(""));
    }

    PurpleFleaHttp http() {
        return http;
    }

    private static long micros(JsonNode usd) {
        return Micros.parse(usd.decimalValue().setScale(6, RoundingMode.HALF_UP).toPlainString());
    }

    static EscrowResult classify(PurpleFleaHttp.Answer a) {
        if (a.status() == 429) {
            return new EscrowResult.Retryable("rate_limited");
        }
        if (a.status() == 402) {
            return new EscrowResult.Rejected("insufficient_balance", "the payer's Purple Flea balance is too low");
        }
        if (a.status() >= 500) {
            // Only reached for a create the service says it rolled back (debit_failed, internal_error).
            return new EscrowResult.Retryable("service answered " + a.status() + " " + a.code());
        }
        return new EscrowResult.Rejected(a.code(), "service answered " + a.status() + ": " + a.message());
    }
}
