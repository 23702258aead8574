// {{name}}: pseudonymise customer records.
//
// `dk run` starts this program and describes its data through the runtime contract: the file
// named by DK_CONTEXT lists every input and output with its location (docs/runtime-contract.md).

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Main {
    // Only the two locations are read, so a regular expression does; use a JSON library
    // (Jackson) for more of the context.
    private static final Pattern LOCATION = Pattern.compile("\"location\"\\s*:\\s*\"([^\"]*)\"");

    public static void main(String[] args) throws Exception {
        String contextPath = System.getenv("DK_CONTEXT");
        if (contextPath == null) {
            System.err.println("DK_CONTEXT is not set: run this pipeline with `dk run`");
            System.exit(1);
        }
        String context = Files.readString(Path.of(contextPath));
        // Inputs come before outputs in the context, one location each here.
        Matcher matcher = LOCATION.matcher(context);
        List<String> locations = new ArrayList<>();
        while (matcher.find()) {
            locations.add(matcher.group(1));
        }
        Path source = Path.of(locations.get(0));
        Path target = Path.of(locations.get(1));
        boolean streaming = context.contains("\"mode\": \"streaming\"");
        do {
            int rows = runOnce(source, target);
            if (!streaming) {
                System.out.println("wrote " + rows + " rows to " + target);
                return;
            }
            Thread.sleep(5000);
        } while (true);
    }

    // The scaffold's CSV has no quoted fields; use a CSV library for real data.
    static int runOnce(Path source, Path target) throws Exception {
        List<String> lines = Files.readAllLines(source, StandardCharsets.UTF_8);
        List<String> header = List.of(lines.get(0).split(","));
        List<String> out = new ArrayList<>();
        out.add("id,email_hash,country,signup_month");
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) {
                continue;
            }
            String[] values = line.split(",");
            String email = values[header.indexOf("email")].trim().toLowerCase();
            String hash = HexFormat.of().formatHex(sha256.digest(email.getBytes(StandardCharsets.UTF_8)));
            out.add(String.join(",", values[header.indexOf("id")], hash,
                    values[header.indexOf("country")], values[header.indexOf("signup_date")].substring(0, 7)));
        }
        Files.createDirectories(target.getParent());
        Files.write(target, out, StandardCharsets.UTF_8);
        return out.size() - 1;
    }
}
