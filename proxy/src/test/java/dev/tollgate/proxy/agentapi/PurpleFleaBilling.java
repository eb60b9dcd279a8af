package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/**
 * The billing-patterns seed's {@code PurpleFleaBilling} client, call for call and body for body, in Java:
 * <pre>
 * class PurpleFleaBilling:
 *     def __init__(self, api_key): self.base = ".../api/v1"; self.h = {"Authorization": f"Bearer {api_key}"}
 *     def lock(self, to, amount, memo="", auto_hours=None):
 *         d = {"to_agent_id": to, "amount": amount, "memo": memo}
 *         if auto_hours: d["auto_release_hours"] = auto_hours
 *         return requests.post(f"{self.base}/escrow", headers=self.h, json=d).json()
 *     def release(self, eid, amount=None):
 *         ep = f"/{eid}/release-partial" if amount else f"/{eid}/release"
 *         body = {"amount": amount} if amount else {}
 *         return requests.post(f"{self.base}/escrow{ep}", headers=self.h, json=body).json()
 *     def status(self, eid): return requests.get(f"{self.base}/escrow/{eid}", headers=self.h).json()
 *     def refund(self, eid, amount=None):
 *         body = {"amount": amount} if amount else {}
 *         return requests.post(f"{self.base}/escrow/{eid}/refund", headers=self.h, json=body).json()
 * </pre>
 * Only the base URL differs: it points at Tollgate. Like {@code requests}, it sends {@code json=} bodies with
 * {@code Content-Type: application/json} and returns the parsed body whatever the status.
 */
final class PurpleFleaBilling {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final String base;
    private final String authorization;

    PurpleFleaBilling(String apiKey, String base) {
        this.base = base;
        this.authorization = "Bearer " + apiKey;
    }

    JsonNode lock(String to, String amount, String memo, Integer autoHours) throws IOException, InterruptedException {
        ObjectNode d = JSON.createObjectNode().put("to_agent_id", to).put("amount", amount).put("memo", memo);
        if (autoHours != null && autoHours != 0) {
            d.put("auto_release_hours", autoHours);
        }
        return post(base + "/escrow", d);
    }

    JsonNode release(String eid, String amount) throws IOException, InterruptedException {
        String ep = amount != null && !amount.isEmpty() ? "/" + eid + "/release-partial" : "/" + eid + "/release";
        ObjectNode body = amount != null && !amount.isEmpty() ? JSON.createObjectNode().put("amount", amount)
                : JSON.createObjectNode();
        return post(base + "/escrow" + ep, body);
    }

    JsonNode status(String eid) throws IOException, InterruptedException {
        HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/escrow/" + eid))
                .header("Authorization", authorization).GET().build();
        return JSON.readTree(http.send(req, HttpResponse.BodyHandlers.ofString()).body());
    }

    JsonNode refund(String eid, String amount) throws IOException, InterruptedException {
        ObjectNode body = amount != null && !amount.isEmpty() ? JSON.createObjectNode().put("amount", amount)
                : JSON.createObjectNode();
        return post(base + "/escrow/" + eid + "/refund", body);
    }

    private JsonNode post(String url, ObjectNode json) throws IOException, InterruptedException {
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).header("Authorization", authorization)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(json))).build();
        return JSON.readTree(http.send(req, HttpResponse.BodyHandlers.ofString()).body());
    }
}
