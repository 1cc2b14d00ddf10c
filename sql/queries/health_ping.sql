-- The cheapest statement that proves the app database answers.
SELECT 1
