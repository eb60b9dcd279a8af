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
import java.io.IOException;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;

/**
 * The Purple Flea escrow service over HTTP ({@code POST /escrow/create}, {@code POST /escrow/release/:id},
 * {@code GET /escrow/:id}). The service has no partial release, no refund call and no idempotency: so
 * Tollgate settles post-pay, each payment an escrow created for the amount owed and released whole
 * ({@link #pay}); locks and partial releases are not offered ({@link #capabilities}).
 *
 * <p>Never paying twice: the operation id goes into the escrow's description; before the create call the
 * operation is recorded as {@code creating}, and the escrow id is recorded the moment the 201 arrives. A
 * create whose answer was lost is therefore never repeated (the service cannot be asked which escrows exist):
 * it stays {@code unknown} for an operator, who finds it by the operation id in the description. A release
 * is retried only after reading the escrow; 409 on release means "read the state".
 *
 * <p>Threading: thread-safe.
 */
public final class PurpleFleaEscrow implements EscrowPort {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http;
    private final URI base;
    private final String apiKey;
    private final Database db;
    private final long minimumMicros;
    private final Duration timeout;

    public PurpleFleaEscrow(URI base, String apiKey, Database db, long minimumMicros, Duration timeout) {
        this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
        this.base = base;
        this.apiKey = apiKey;
        this.db = db;
        this.minimumMicros = minimumMicros;
        this.timeout = timeout;
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

    /** Creates an escrow of {@code amountMicros} for the payee and releases it whole. */
    @Override
    public EscrowResult pay(String opId, String payer, String payee, long amountMicros) {
        if (amountMicros < minimumMicros) {
            return new EscrowResult.Rejected("invalid_amount", "below the service minimum of " + minimumMicros);
        }
        String[] row = remote(opId);
        if (row == null) {
            record(opId, null, "creating", amountMicros);
            EscrowResult created = create(opId, payee, amountMicros);
            if (!(created instanceof EscrowResult.Done d)) {
                if (!(created instanceof EscrowResult.Ambiguous)) {
                    forget(opId); // Nothing was created: a retry may create.
                }
                return created;
            }
            record(opId, d.escrowId(), "created", amountMicros);
            row = new String[] {d.escrowId(), "created"};
        }
        if (row[0] == null) {
            return new EscrowResult.Ambiguous("create for " + opId + " was sent but never answered; find the escrow "
                    + "whose description names this operation before retrying");
        }
        return release(opId, row[0], amountMicros);
    }

    private EscrowResult create(String opId, String payee, long amountMicros) {
        ObjectNode body = JSON.createObjectNode();
        body.put("amount_usd", new BigDecimal(Micros.format(amountMicros)));
        body.put("description", "tollgate op=" + opId);
        body.put("counterparty_agent_id", payee);
        body.put("timeout_hours", 24);
        Answer a = call("POST", "/escrow/create", body.toString());
        if (a.lost) {
            return new EscrowResult.Ambiguous(a.error);
        }
        if (a.status == 201) {
            return new EscrowResult.Done(a.json.path("escrow_id").asText(), null);
        }
        return classify(a);
    }

    private EscrowResult release(String opId, String escrowId, long amountMicros) {
        Answer a = call("POST", "/escrow/release/" + escrowId, null);
        if (!a.lost && a.status == 200) {
            record(opId, escrowId, "released", amountMicros);
            return new EscrowResult.Done(escrowId, null);
        }
        if (a.lost || a.status == 409 || a.status >= 500) {
            // Read before any retry: the release may have happened.
            EscrowState s = read(escrowId);
            if (s != null && s.status().equals("released")) {
                record(opId, escrowId, "released", amountMicros);
                return new EscrowResult.Done(escrowId, s);
            }
            if (s != null && (s.status().equals("refunded") || s.status().equals("disputed"))) {
                return new EscrowResult.Rejected(s.status(), "escrow " + escrowId + " is " + s.status());
            }
            return new EscrowResult.Ambiguous(a.lost ? a.error : "release answered " + a.status);
        }
        return classify(a);
    }

    @Override
    public EscrowState read(String escrowId) {
        Answer a = call("GET", "/escrow/" + escrowId, null);
        if (a.lost || a.status != 200) {
            return null;
        }
        long amount = Micros.parse(a.json.path("amount_usd").decimalValue().setScale(6, java.math.RoundingMode.HALF_UP)
                .toPlainString());
        String status = a.json.path("status").asText();
        boolean released = status.equals("released");
        boolean refunded = status.equals("refunded");
        return new EscrowState(escrowId, a.json.path("creator_id").asText(), a.json.path("counterparty_id").asText(),
                amount, released ? amount : 0, refunded ? amount : 0, status);
    }

    private static EscrowResult classify(Answer a) {
        String code = a.json == null ? "http_" + a.status : a.json.path("error").asText("http_" + a.status);
        if (a.status == 429) {
            return new EscrowResult.Retryable("rate_limited");
        }
        if (a.status == 402) {
            return new EscrowResult.Rejected("insufficient_balance", "the payer's Purple Flea balance is too low");
        }
        if (a.status >= 500) {
            return new EscrowResult.Ambiguous("service answered " + a.status + " " + code);
        }
        return new EscrowResult.Rejected(code, "service answered " + a.status);
    }

    private record Answer(int status, JsonNode json, boolean lost, String error) {
    }

    private Answer call(String method, String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(base.getPath().endsWith("/")
                        ? path.substring(1) : base.getPath() + path))
                .timeout(timeout).header("authorization", "Bearer " + apiKey);
        if (body != null) {
            b.header("content-type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            JsonNode json = null;
            try {
                json = r.body().isEmpty() ? null : JSON.readTree(r.body());
            } catch (IOException e) {
                // A non-JSON body: the status says enough.
            }
            return new Answer(r.statusCode(), json, false, null);
        } catch (HttpTimeoutException e) {
            return new Answer(0, null, true, "timeout after " + timeout);
        } catch (IOException e) {
            return new Answer(0, null, true, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(0, null, true, "interrupted");
        }
    }

    private String[] remote(String opId) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT remote_id, state FROM remote_escrow WHERE op_id = ?")) {
                ps.setString(1, opId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? new String[] {rs.getString(1), rs.getString(2)} : null;
                }
            }
        });
    }

    private void record(String opId, String remoteId, String state, long amount) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO remote_escrow(op_id, remote_id, state, amount, "
                    + "updated_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(op_id) DO UPDATE SET remote_id = "
                    + "excluded.remote_id, state = excluded.state, updated_ms = excluded.updated_ms")) {
                ps.setString(1, opId);
                ps.setString(2, remoteId);
                ps.setString(3, state);
                ps.setLong(4, amount);
                ps.setLong(5, System.currentTimeMillis());
                ps.executeUpdate();
            }
            return null;
        });
    }

    private void forget(String opId) {
        db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM remote_escrow WHERE op_id = ? AND remote_id IS NULL")) {
                ps.setString(1, opId);
                ps.executeUpdate();
            }
            return null;
        });
    }
}
