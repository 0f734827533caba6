# R survey 4.1 numbers for the surveys of tests/shapes.py (household-only, delivered weights, person-only).
# Usage: Rscript tests/data/shapes_r.R <folder with the weight stage's files as CSV>
# Reads <folder>/<shape>_<unit>.csv (written by tests/test_survey_shapes.py) and prints a JSON list of
# {shape, indicator, domain, domain_value, estimate, se} to stdout.  The indicator definitions are written
# here again in R, from the raw columns, so that the check does not rely on the pipeline's expressions.
# tests/data/shapes_r.json holds this script's output for the seeded data (R 4.2.2, survey 4.1-1).
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
rd <- function(shape, unit) read.csv(file.path(dir, sprintf("%s_%s.csv", shape, unit)))
out <- list()
add <- function(shape, indicator, domain, design, y, by = NULL) {
  f <- as.formula(paste0("~", y))
  if (is.null(by)) {
    r <- svymean(f, design, na.rm = TRUE)
    out[[length(out) + 1]] <<- list(shape = shape, indicator = indicator, domain = domain, domain_value = "all",
                                     estimate = unname(coef(r)[1]), se = unname(SE(r)[1]))
  } else {
    r <- svyby(f, as.formula(paste0("~", by)), design, svymean, na.rm = TRUE)
    for (i in seq_len(nrow(r))) {
      out[[length(out) + 1]] <<- list(shape = shape, indicator = indicator, domain = domain,
                                       domain_value = as.character(r[[by]][i]),
                                       estimate = unname(coef(r)[i]), se = unname(SE(r)[i]))
    }
  }
}
both <- function(shape, indicator, design, y, all, by) {
  add(shape, indicator, all, design, y)
  add(shape, indicator, by, design, y, by)
}

# household-only: weights computed by the pipeline (base x nonresponse), EAs in zones
hh <- rd("household_only", "household")
hh$phone1 <- as.numeric(hh$phone == 1)
d <- svydesign(ids = ~ea_id, strata = ~zone, weights = ~weight, data = hh)
both("household_only", "hh_phone", d, "phone1", "all", "zone")
both("household_only", "hh_size", d, "size", "all", "zone")

# delivered household and person weights; regions as strata, households as PSUs
hh <- rd("delivered", "household")
hh$internet1 <- as.numeric(hh$internet == 1)
hh$broadband1 <- as.numeric(hh$broadband == 1)
d <- svydesign(ids = ~hh_id, strata = ~region, weights = ~hh_weight, data = hh)
both("delivered", "hh_internet", d, "internet1", "country", "region")
both("delivered", "hh_broadband", subset(d, internet == 1), "broadband1", "country", "region")
both("delivered", "hh_devices", d, "devices", "country", "region")
p <- rd("delivered", "person")
p$net1 <- as.numeric(p$uses_internet == 1)
p$shop1 <- as.numeric(p$shops_online == 1)
dp <- subset(svydesign(ids = ~hh_id, strata = ~region, weights = ~p_weight, data = p), age >= 16 & age <= 74)
both("delivered", "p_internet", dp, "net1", "country", "region")
both("delivered", "p_shop", dp, "shop1", "country", "region")

# person-only, with delivered bootstrap replicate weights
p <- rd("person_only", "person")
p$net1 <- as.numeric(p$uses_internet == 1)
p$shop1 <- as.numeric(p$shops_online == 1)
r <- svrepdesign(data = p, weights = ~p_weight, repweights = "rw[0-9]+", type = "bootstrap", combined.weights = TRUE)
both("person_only", "p_internet", r, "net1", "all", "region")
both("person_only", "p_shop", subset(r, uses_internet == 1), "shop1", "all", "region")
both("person_only", "p_age", r, "age", "all", "region")

num <- function(x) sprintf("%.17g", x)
items <- vapply(out, function(o) sprintf('{"shape": "%s", "indicator": "%s", "domain": "%s", "domain_value": "%s", "estimate": %s, "se": %s}',
                                         o$shape, o$indicator, o$domain, o$domain_value, num(o$estimate), num(o$se)), "")
cat("[\n", paste(items, collapse = ",\n"), "\n]\n", sep = "")
