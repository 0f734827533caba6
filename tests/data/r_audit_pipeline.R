# Independent R (survey 4.1-1) re-estimation of the demo's estimates.csv from the weight stage's files
# (tests/test_audit_pipeline.py).  Usage: Rscript r_audit_pipeline.R <dir> <controls dir>
# <dir> holds household.csv and person.csv (build/<survey>/weight/*.parquet as CSV); the script writes
# r_household.csv and r_person.csv there.  Design: svydesign(id=~ea_id, strata=~variance_stratum,
# fpc=~variance_fpc) from the nonresponse-adjusted weights, calibrate(calfun="raking") to the district x urban
# households and the sex x age persons (integrated weighting: member counts per household), trimWeights at
# 3.5 x median and the re-calibration the pipeline runs after it ("two"; "one": without it).  Person
# indicators: svyratio of household totals on that design (the linearised values summed to the household).
# Korn-Graubard n_eff/limits with n = the domain's rows, as analysis.intervals.effective_n documents.
suppressMessages(library(survey))
options(survey.lonely.psu = "adjust")
args <- commandArgs(TRUE)
dir <- args[1]
ctl <- args[2]
hh <- read.csv(file.path(dir, "household.csv"), stringsAsFactors = FALSE)
pp <- read.csv(file.path(dir, "person.csv"), stringsAsFactors = FALSE)
hc <- read.csv(file.path(ctl, "households_district_urban.csv"))
pc <- read.csv(file.path(ctl, "persons_sex_age.csv"), stringsAsFactors = FALSE)

# variance fpc as the pipeline describes it: n_h / N_h with n_h the responding EAs of the design stratum
nh <- tapply(hh$ea_id, hh$stratum, function(x) length(unique(x)))
f <- nh[as.character(hh$stratum)] / hh$stratum_eas
cat("variance_fpc check max abs diff:", max(abs(f - hh$variance_fpc)), "\n")

# integrated weighting: per-household counts of members in each sex x age cell
hh$du <- factor(paste(hh$district, hh$urban, sep = "_"), levels = paste(hc$district, hc$urban, sep = "_"))
cellp <- paste(pp$sex, pp$age_group, sep = "_")
cells <- paste(pc$sex, pc$age_group, sep = "_")
for (j in seq_along(cells)) {
  cnt <- tapply(cellp == cells[j] & !is.na(pp$sex) & !is.na(pp$age_group), pp$hhid, sum)
  v <- cnt[hh$hhid]; v[is.na(v)] <- 0
  hh[[paste0("n", j)]] <- as.numeric(v)
}
fml <- as.formula(paste("~ 0 + du +", paste0("n", seq_along(cells), collapse = " + ")))
pop <- c(hc$count, pc$count)
d0 <- svydesign(id = ~ea_id, strata = ~variance_stratum, weights = ~w_nonresponse, fpc = ~variance_fpc, data = hh)
d1 <- calibrate(d0, fml, population = pop, calfun = "raking", epsilon = 1e-12, maxit = 200)
upper <- 3.5 * median(weights(d1))
cat("weights > cap:", sum(weights(d1) > upper), "\n")
# the pipeline re-calibrates after trimming (no weight is capped here): second calibration, g = 1
d1t <- trimWeights(d1, upper = upper)
d2 <- calibrate(d1t, fml, population = pop, calfun = "raking", epsilon = 1e-12, maxit = 200)
cat("R weights vs parquet weight: max rel diff", max(abs(weights(d2) / hh$weight - 1)), "\n")
DES <- list(one = d1, two = d2)

ests <- list()
add <- function(...) ests[[length(ests) + 1]] <<- data.frame(..., stringsAsFactors = FALSE)

hh_ind <- list(
  hh_mobile = with(hh, q_mobile == 1),
  hh_smartphone = with(hh, n_smartphones > 0),
  hh_computer = with(hh, q_computer == 1),
  hh_internet = with(hh, q_internet_home == 1),
  hh_fiber = with(hh, q_internet_home == 1 & q_fiber == 1),
  hh_fixed_bb = with(hh, q_internet_home == 1 & (q_fiber == 1 | q_fixed_other == 1)),
  hh_mobile_bb = with(hh, q_internet_home == 1 & q_mobile_bb == 1),
  hh_n_smartphones = hh$n_smartphones,
  hh_internet_spend = hh$internet_spend)
hh_univ <- list(hh_internet_spend = with(hh, !is.na(q_internet_home) & q_internet_home == 1))
kinds <- c(hh_n_smartphones = "mean", hh_internet_spend = "mean")
domains <- list(province = NULL, district = "district", urban = "urban", sex = "sex")

beta_ci <- function(p, v, n, df, level = 0.95) {
  a <- 1 - level
  neff <- p * (1 - p) / v * (qt(a / 2, n - 1) / qt(a / 2, df))^2
  c(qbeta(a / 2, neff * p, neff * (1 - p) + 1), qbeta(1 - a / 2, neff * p + 1, neff * (1 - p)), neff)
}

for (which in names(DES)) {
  des <- DES[[which]]
  for (id in names(hh_ind)) {
    y <- hh_ind[[id]]
    des$variables$y <- ifelse(is.na(y), 0, as.numeric(y))
    univ <- if (is.null(hh_univ[[id]])) rep(TRUE, nrow(hh)) else hh_univ[[id]]
    kind <- if (id %in% names(kinds)) "mean" else "proportion"
    for (dom in names(domains)) {
      by <- domains[[dom]]
      if (!is.null(by) && !(by %in% names(hh))) next
      vals <- if (is.null(by)) "all" else sort(unique(hh[[by]]))
      for (v in vals) {
        inside <- univ & !is.na(y) & (if (is.null(by)) TRUE else (!is.na(hh[[by]]) & hh[[by]] == v))
        sub <- subset(des, inside)
        m <- svymean(~y, sub, deff = TRUE)
        p <- coef(m)[[1]]; V <- vcov(m)[1, 1]; df <- degf(sub); n <- sum(inside)
        nrows <- sum(univ & (if (is.null(by)) TRUE else (!is.na(hh[[by]]) & hh[[by]] == v)))
        if (kind == "proportion") {
          ci <- beta_ci(p, V, nrows, df)
          cir <- suppressWarnings(confint(svyciprop(~y, sub, method = "beta")))
          add(which = which, indicator = id, domain = dom, domain_value = as.character(v), estimate = p, se = sqrt(V),
              ci_low = ci[1], ci_high = ci[2], df = df, deff = deff(m)[[1]], n = n, n_eff = ci[3],
              r_native_ci_low = cir[1], r_native_ci_high = cir[2])
        } else {
          ci <- p + c(-1, 1) * qt(0.975, df) * sqrt(V)
          add(which = which, indicator = id, domain = dom, domain_value = as.character(v), estimate = p, se = sqrt(V),
              ci_low = ci[1], ci_high = ci[2], df = df, deff = deff(m)[[1]], n = n, n_eff = NA,
              r_native_ci_low = confint(m, df = df)[1], r_native_ci_high = confint(m, df = df)[2])
        }
      }
    }
  }
}
out <- do.call(rbind, ests)
write.csv(out, file.path(dir, "r_household.csv"), row.names = FALSE)

# person indicators: integrated weighting, so the linearised person values are summed to the household
# (svyratio of household totals on the calibrated household design); deff's SRS variance from a person design
pd0 <- svydesign(id = ~ea_id, strata = ~variance_stratum, weights = ~weight, fpc = ~variance_fpc, data = pp)
pests <- list()
pids <- c("p_smartphone","p_internet","p_egov","p_account","p_digipay","p_esign", paste0("p_skill", 1:9), "p_anyskill")
sk <- sapply(1:9, function(k) pp[[paste0("p_skill", k)]] == 1)
anysk <- apply(sk, 1, function(r) { if (any(r %in% TRUE)) TRUE else if (any(is.na(r))) NA else FALSE })
puniv <- !is.na(pp$age) & pp$age >= 15
hix <- match(pp$hhid, hh$hhid)
for (id in pids) {
  y <- if (id == "p_anyskill") anysk else pp[[id]] == 1
  for (dom in names(domains)) {
    by <- domains[[dom]]
    vals <- if (is.null(by)) "all" else sort(unique(pp[[by]]))
    for (v in vals) {
      indom <- puniv & (if (is.null(by)) TRUE else (!is.na(pp[[by]]) & pp[[by]] == v))
      inside <- indom & !is.na(y)
      d2$variables$Y <- as.numeric(tapply(ifelse(inside, as.numeric(y), 0), factor(hix, levels = seq_len(nrow(hh))), sum, default = 0))
      d2$variables$U <- as.numeric(tapply(as.numeric(inside), factor(hix, levels = seq_len(nrow(hh))), sum, default = 0))
      r <- svyratio(~Y, ~U, d2)
      p <- coef(r)[[1]]; V <- vcov(r)[1, 1]
      inset <- d2$variables$U > 0
      df <- length(unique(hh$ea_id[inset])) - length(unique(hh$variance_stratum[inset]))
      pd0$variables$yy <- ifelse(is.na(y), 0, as.numeric(y))
      sub0 <- subset(pd0, inside)
      m0 <- svymean(~yy, sub0, deff = TRUE)
      vsrs <- vcov(m0)[1, 1] / deff(m0)[[1]]
      ci <- beta_ci(p, V, sum(indom), df)
      pests[[length(pests) + 1]] <- data.frame(which = "two", indicator = id, domain = dom, domain_value = as.character(v),
        estimate = p, se = sqrt(V), ci_low = ci[1], ci_high = ci[2], df = df, deff = V / vsrs, n = sum(inside), n_eff = ci[3],
        est_person_design = coef(m0)[[1]], df_person_design = degf(sub0))
    }
  }
}
pout <- do.call(rbind, pests)
write.csv(pout, file.path(dir, "r_person.csv"), row.names = FALSE)
cat("person rows:", nrow(pout), "max |ratio - person-design mean|", max(abs(pout$estimate - pout$est_person_design)),
    "df agree:", all(pout$df == pout$df_person_design), "\n")
cat("household rows:", nrow(out), "\n")

# comparisons: differences of domain means (ratios of household totals, covariance included) and svycontrast
res <- list()
add <- function(...) res[[length(res) + 1]] <<- data.frame(..., stringsAsFactors = FALSE)
hyv <- list(hh_smartphone = with(hh, n_smartphones > 0), hh_internet = with(hh, q_internet_home == 1),
            hh_fiber = with(hh, q_internet_home == 1 & q_fiber == 1), hh_computer = with(hh, q_computer == 1))
for (id in names(hyv)) {
  y <- hyv[[id]]; d2$variables$y <- ifelse(is.na(y), 0, as.numeric(y))
  for (by in c("urban", "district")) {
    if (by == "district" && id != "hh_fiber") next
    lv <- as.character(sort(unique(hh[[by]]))); prs <- if (by == "urban") list(c("1", "2")) else combn(lv, 2, simplify = FALSE)
    for (pr in prs) {
      for (s in 1:2) {
        ins <- !is.na(y) & hh[[by]] == as.numeric(pr[s])
        d2$variables[[paste0("Y", s)]] <- ifelse(ins, as.numeric(y), 0); d2$variables[[paste0("U", s)]] <- as.numeric(ins)
      }
      r <- svyratio(~Y1 + Y2, ~U1 + U2, d2, covmat = TRUE)
      cc <- svycontrast(r, c(1, 0, 0, -1))
      add(indicator = id, domain = by, a = pr[1], b = pr[2], difference = coef(cc)[[1]], se = SE(cc)[[1]])
    }
  }
}
hix <- factor(match(pp$hhid, hh$hhid), levels = seq_len(nrow(hh)))
univ <- !is.na(pp$age) & pp$age >= 15
for (id in c("p_smartphone", "p_internet", "p_account", "p_digipay", "p_egov", "p_esign")) {
  y <- pp[[id]] == 1
  for (s in 1:2) {
    ins <- univ & !is.na(pp$sex) & pp$sex == s & !is.na(y)
    d2$variables[[paste0("Y", s)]] <- as.numeric(tapply(ifelse(ins, as.numeric(y), 0), hix, sum, default = 0))
    d2$variables[[paste0("U", s)]] <- as.numeric(tapply(as.numeric(ins), hix, sum, default = 0))
  }
  r <- svyratio(~Y1 + Y2, ~U1 + U2, d2, covmat = TRUE)
  # ratios in order Y1/U1, Y2/U1, Y1/U2, Y2/U2
  cc <- svycontrast(r, c(1, 0, 0, -1))
  add(indicator = id, domain = "sex", a = "1", b = "2", difference = coef(cc)[[1]], se = SE(cc)[[1]])
}
write.csv(do.call(rbind, res), file.path(dir, "r_comparisons.csv"), row.names = FALSE)

# models
mods <- list()
m1 <- svyglm(fiber ~ factor(urban) + factor(district) + hh_size, design = d2, family = quasibinomial())
mods[[1]] <- data.frame(model = "fiber", term = names(coef(m1)), estimate = coef(m1), se = SE(m1), df = m1$df.residual, n = length(m1$y))
# person model: coefficients from the person file with the household weights; influence functions summed to the
# household and their variance with the household calibration residuals (as svyglm's svy.varcoef does)
pp$internet_f <- pp$internet
pdes <- svydesign(id = ~ea_id, strata = ~variance_stratum, weights = ~weight, fpc = ~variance_fpc, data = pp)
psub <- subset(pdes, univ)
m2 <- svyglm(internet ~ factor(sex) + factor(age_group) + factor(education), design = psub, family = quasibinomial())
X <- model.matrix(m2); used <- as.integer(rownames(X))
estf <- X * resid(m2, "working") * m2$weights
inf <- estf %*% solve(crossprod(X, X * m2$weights))
Z <- matrix(0, nrow(hh), ncol(inf))
for (k in seq_len(ncol(inf))) Z[, k] <- as.numeric(tapply(inf[, k], factor(match(pp$hhid[used], hh$hhid), levels = seq_len(nrow(hh))), sum, default = 0))
Zw <- Z / weights(d2)
V <- survey:::svyrecvar(Zw * weights(d2), d2$cluster, d2$strata, d2$fpc, postStrata = d2$postStrata)
# df: R's df.residual on the person subset design
mods[[2]] <- data.frame(model = "internet_use", term = names(coef(m2)), estimate = coef(m2), se = sqrt(diag(V)),
                        df = m2$df.residual, n = nrow(X))
mods[[3]] <- data.frame(model = "internet_use_uncal", term = names(coef(m2)), estimate = coef(m2), se = SE(m2), df = m2$df.residual, n = nrow(X))
write.csv(do.call(rbind, mods), file.path(dir, "r_models.csv"), row.names = FALSE)
