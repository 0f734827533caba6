# R reference for tests/test_audit_taylor.py: svyciprop(method = "likelihood") in domains of a
# subset, with missing values (na.rm = TRUE).  Run from the repository root:
#   Rscript tests/data/r_audit_taylor.R tests/data/audit_taylor.csv tests/data/r_audit_taylor.json
suppressMessages(library(survey))
args <- commandArgs(TRUE)
df <- read.csv(args[1], stringsAsFactors = TRUE)
d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = df)
out <- list()
for (lev in c(0.9, 0.95)) {
  p <- svyby(~I(bm == 1), ~g, subset(d, h2 == "u"), svyciprop, method = "likelihood",
             vartype = c("se", "ci"), level = lev, na.rm = TRUE)
  out[[as.character(lev)]] <- list(g = as.character(p$g), est = unname(coef(p)), se = unname(SE(p)),
                                   low = unname(p$ci_l), high = unname(p$ci_u))
}
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = FALSE), args[2])
