# Reference numbers for tests/test_pps.py, from R survey 4.1.1: PPS without replacement and probs=
# (estimates, SEs, covariance matrices, contrasts and svyglm coefficients).
# Run from the repository root:  Rscript tests/data/r_pps.R
# Writes tests/data/election_pps.csv, tests/data/election_jointprob.csv and tests/data/r_pps.json, and
# tests/data/twostage_pps.csv and tests/data/r_pps_multistage.json (a two-stage Brewer design).
suppressMessages({library(survey); library(jsonlite)})
data(election)
ep <- election_pps
ep$County <- as.character(ep$County)
ep$big <- ifelse(ep$TotPrecincts > 100, "yes", "no")
ep$bushwin <- as.integer(ep$Bush > ep$Kerry)
ep$half <- rep(1:2, 20)
write.csv(ep, "tests/data/election_pps.csv", row.names = FALSE)
write.csv(election_jointprob, "tests/data/election_jointprob.csv", row.names = FALSE)

num <- function(x) as.numeric(unclass(x))
stats <- function(d) {
  t <- svytotal(~Bush + Kerry, d)
  m <- svymean(~Bush, d)
  r <- svyratio(~Bush, ~Kerry, d)
  p <- svymean(~bushwin, d)
  bt <- svyby(~Bush, ~big, d, svytotal)
  bm <- svyby(~Bush, ~big, d, svymean)
  br <- svyby(~Bush, ~big, d, svyratio, denominator = ~Kerry)
  # covariances: vcov of two totals, a contrast of them, a contrast of domain means, a model's coefficients
  ct <- svycontrast(t, c(1, -1))
  # The contrast of two domain means: svyby(covmat = TRUE) fails for Brewer's designs and sets the
  # cross-domain covariances of the other PPS designs to 0, so its SE is taken from the total of the
  # contrast's linearised values (z = (y - m_no) / N_no in domain "no", -(y - m_yes) / N_yes in "yes").
  mb <- coef(bm)
  nb <- coef(svyby(~one, ~big, update(d, one = 1), svytotal))
  mf <- model.frame(d)
  z <- ifelse(mf$big == "no", (mf$Bush - mb[["no"]]) / nb[["no"]], -(mf$Bush - mb[["yes"]]) / nb[["yes"]])
  cz <- svytotal(~z, update(d, z = z))
  g <- svyglm(Bush ~ votes, d)
  chi <- svychisq(~big + bushwin, d)
  list(vcov_total = num(vcov(t)), contrast = num(coef(ct)), contrast_se = num(SE(ct)),
       by_contrast = mb[["no"]] - mb[["yes"]], by_contrast_se = num(SE(cz)),
       glm = num(coef(g)), glm_se = num(SE(g)),
       chisq_f = num(chi$statistic), chisq_ndf = num(chi$parameter[["ndf"]]), chisq_ddf = num(chi$parameter[["ddf"]]),
       chisq_p = num(chi$p.value),
       total = num(coef(t)), total_se = num(SE(t)), mean = num(coef(m)), mean_se = num(SE(m)),
       ratio = num(coef(r)), ratio_se = num(SE(r)), prop = num(coef(p)), prop_se = num(SE(p)),
       by_total = num(coef(bt)), by_total_se = num(SE(bt)), by_mean = num(coef(bm)), by_mean_se = num(SE(bm)),
       by_ratio = num(coef(br)), by_ratio_se = num(SE(br)), degf = degf(d))
}
cal_totals <- colSums(model.matrix(~votes, election))
out <- list(
  brewer = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = "brewer")),
  overton = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = "overton")),
  hartley_rao = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = HR())),
  hartley_rao_p2 = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = HR(sum(election$p^2) / 40))),
  ht = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = ppsmat(election_jointprob))),
  yg = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = ppsmat(election_jointprob), variance = "YG")),
  brewer_strat = stats(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "brewer")),
  overton_strat = stats(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "overton")),
  probs = stats(svydesign(id = ~1, probs = ~p, data = ep)),
  # Brewer's designs calibrated to the county count and the total votes (GREG residuals in the variance)
  brewer_cal = stats(calibrate(svydesign(id = ~1, fpc = ~p, data = ep, pps = "brewer"), ~votes, cal_totals)),
  brewer_strat_cal = stats(calibrate(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "brewer"),
                                     ~votes, cal_totals)),
  cal_totals = num(cal_totals),
  # a stratum holding one PSU, lonely.psu = "adjust": that PSU's total enters uncentred, times 1 - p
  brewer_lonely_adjust = local({
    op <- options(survey.lonely.psu = "adjust"); on.exit(options(op))
    stats(svydesign(id = ~1, strata = ~s3, fpc = ~p, data = transform(ep, s3 = c(rep(1, 20), rep(2, 19), 3)),
                    pps = "brewer"))
  }),
  hr_p2_value = sum(election$p^2) / 40
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/r_pps.json")

# A two-stage Brewer design (R: multistage PPS with pps = "brewer"): PSUs drawn with probability p1 within
# strata, SSUs with probability p2 within their PSU (both varying), two or three rows per SSU.
set.seed(20261129)
rows <- list()
for (h in 1:3) for (i in 1:6) {
  p1 <- round(runif(1, 0.05, 0.4), 4)
  m <- sample(2:4, 1)
  for (k in 1:m) {
    p2 <- round(runif(1, 0.1, 0.6), 4)
    e <- sample(2:3, 1)
    for (j in 1:e) rows[[length(rows) + 1]] <- data.frame(
      stratum = h, psu = paste0(h, "-", i), ssu = paste0(h, "-", i, "-", k), p1 = p1, p2 = p2,
      y = round(rnorm(1, 50 + 5 * h + 3 * k, 10), 2), x = round(runif(1, 10, 30), 2), g = sample(c("a", "b"), 1))
  }
}
ts <- do.call(rbind, rows)
write.csv(ts, "tests/data/twostage_pps.csv", row.names = FALSE)
two <- function(d) {
  t <- svytotal(~y + x, d)
  m <- svymean(~y, d)
  r <- svyratio(~y, ~x, d)
  bm <- svyby(~y, ~g, d, svymean)
  g <- svyglm(y ~ x, d)
  list(total = num(coef(t)), total_se = num(SE(t)), vcov_total = num(vcov(t)), mean = num(coef(m)),
       mean_se = num(SE(m)), ratio = num(coef(r)), ratio_se = num(SE(r)), by_mean = num(coef(bm)),
       by_mean_se = num(SE(bm)), glm = num(coef(g)), glm_se = num(SE(g)), degf = degf(d), weights = num(weights(d)))
}
ms <- svydesign(id = ~psu + ssu, strata = ~stratum, fpc = ~p1 + p2, data = ts, pps = "brewer")
two_totals <- c(`(Intercept)` = 2000, x = 40000)
out2 <- list(
  brewer_two_stage = two(ms),
  brewer_two_stage_cal = two(calibrate(ms, ~x, two_totals)),
  cal_totals = num(two_totals)
)
writeLines(toJSON(out2, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/r_pps_multistage.json")
