# R reference for tests/test_audit_taylor.py: svyciprop(method = "likelihood") in domains
#  * "na":   of a subset, with missing values (na.rm = TRUE), weights w;
#  * "zero": with zero weights (w0) and no missing value.
# Run from the repository root:
#   Rscript tests/data/r_audit_taylor.R tests/data/audit_taylor.csv tests/data/r_audit_taylor.json
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df)
d0 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w0, data = df)
out <- list()
keep <- function(p) list(g = as.character(p$g), est = unname(coef(p)), se = unname(SE(p)),
                         low = unname(p$ci_l), high = unname(p$ci_u))
for (lev in c(0.9, 0.95)) {
  out[[paste0("na_", lev)]] <- keep(svyby(~I(bm == 1), ~g, subset(d, h2 == "u"), svyciprop, method = "likelihood",
                                          vartype = c("se", "ci"), level = lev, na.rm = TRUE))
  out[[paste0("zero_", lev)]] <- keep(suppressWarnings(svyby(~I(b == 1), ~g, d0, svyciprop, method = "likelihood",
                                                             vartype = c("se", "ci"), level = lev)))
}
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = FALSE), args[2])
