package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.PostPayView;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The statement of the Purple Flea backend per payer x worker (accrued = paid in escrows + pending + unknown +
 * owed), with the service's fees as the service computed them: 1% of each escrow rounded half-up to 6 decimals,
 * 15% of it (rounded half-up) to the payer's referrer.
 */
class PurpleFleaViewTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";

    @Test
    void theStatementAddsUpPerPayerAndWorkerWithTheServicesFees() throws Exception {
        try (PfHarness h = new PfHarness(PAYER)) {
            h.fake.register("ag_ref");
            h.fake.register(WORKER);
            h.fake.fund(PAYER, Micros.parse("5"));
            h.fake.referredBy(PAYER, "ag_ref");
            h.serve(PAYER, WORKER, 125);            // escrow of 0.125: fee 0.00125, referrer 0.0001875 -> 0.000188
            h.fake.dropNextCreateAnswer = true;
            h.serve(PAYER, WORKER, 110);            // unknown 0.11
            h.serve(PAYER, WORKER, 50);             // 0.05 owed, below the minimum
            List<PostPayView.Pair> pairs = h.service.postPayPairs(PAYER);
            assertEquals(1, pairs.size());
            PostPayView.Pair p = pairs.get(0);
            assertEquals(285_000, p.accruedMicros());
            assertEquals(125_000, p.paidMicros());
            assertEquals(0, p.pendingMicros());
            assertEquals(110_000, p.unknownMicros());
            assertEquals(50_000, p.owedMicros());
            assertTrue(p.belowMinimum());
            assertEquals(1_250, p.feeMicros());
            assertEquals(188, p.referralMicros());
            assertEquals(1, p.escrows());
            assertEquals("ok", p.standing());
            assertEquals(125_000 - 1_250, h.fake.balance(WORKER), "the worker received paid minus the fee");
            assertEquals(188, h.fake.balance("ag_ref"));
            assertEquals(pairs, h.service.postPayPairs(WORKER), "the worker's statement shows the same pair");
            String escrowId = h.fake.escrows.values().stream()
                    .filter(e -> e.get("status").asText().equals("released")).findFirst().orElseThrow()
                    .get("escrow_id").asText();
            PostPayView.Escrow e = h.service.postPayEscrow(escrowId);
            assertEquals(125_000, e.amountMicros());
            assertEquals(1_250, e.feeMicros());
            assertEquals(188, e.referralMicros());
        }
    }

    @Test
    void feesRoundHalfUpToTheMicro() throws Exception {
        // 1% of 0.100050 is 0.0010005: half-up 0.001001; 15% of that is 0.00015015: 0.000150.
        assertEquals(1_001, PurpleFleaFees.commission(100_050));
        assertEquals(1_000, PurpleFleaFees.commission(100_049));
        assertEquals(150, PurpleFleaFees.referral(1_001));
        assertEquals(152, PurpleFleaFees.referral(1_010)); // 151.5 -> 152
        try (FakePurpleFlea fake = new FakePurpleFlea();
             Database db = Database.open(Files.createTempDirectory("pfv-"))) {
            fake.register(WORKER);
            fake.fund(PAYER, Micros.parse("1"));
            PurpleFleaEscrow pf = new PurpleFleaEscrow(URI.create(fake.baseUrl()), "key-" + PAYER, db, 100_000,
                    Duration.ofSeconds(5));
            assertTrue(pf.pay("postpay:x:1:100050", PAYER, WORKER, 100_050) instanceof EscrowResult.Done);
            assertEquals(100_050 - 1_001, fake.balance(WORKER), "the service's fee, rounded half-up");
        }
    }
}
