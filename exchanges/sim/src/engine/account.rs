//! Accounts and balances: free and locked amounts per asset, reservation on placement, release
//! on fill or cancel, and a record of which balances an operation touched (for
//! `outboundAccountPosition`).

use rust_decimal::Decimal;

use super::types::{AccountId, AssetId, Balance, Reject};

#[derive(Clone, Debug)]
struct Account {
    /// Whether this account gets execution reports and keeps order/trade history.
    reports: bool,
    balances: Vec<Balance>,
    update_time: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Accounts {
    list: Vec<Account>,
    asset_count: usize,
    touched: Vec<(AccountId, AssetId)>,
}

impl Accounts {
    pub fn new(asset_count: usize) -> Self {
        Self {
            list: Vec::new(),
            asset_count,
            touched: Vec::new(),
        }
    }

    /// Opens an empty account. `reports` turns on user events and history (users, not agents).
    pub fn open(&mut self, reports: bool) -> AccountId {
        self.list.push(Account {
            reports,
            balances: vec![Balance::default(); self.asset_count],
            update_time: 0,
        });
        AccountId(u32::try_from(self.list.len() - 1).unwrap_or(u32::MAX))
    }

    pub fn exists(&self, account: AccountId) -> bool {
        (account.0 as usize) < self.list.len()
    }

    pub fn reports(&self, account: AccountId) -> bool {
        self.get(account).is_some_and(|a| a.reports)
    }

    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        self.get(account)
            .and_then(|a| a.balances.get(asset.0).copied())
            .unwrap_or_default()
    }

    /// All balances of an account by asset id, and its last update time.
    pub fn balances(&self, account: AccountId) -> (Vec<(AssetId, Balance)>, i64) {
        self.get(account).map_or((Vec::new(), 0), |a| {
            let list = a.balances.iter().enumerate().map(|(i, b)| (AssetId(i), *b));
            (list.collect(), a.update_time)
        })
    }

    /// Adds to the free amount (deposits and trade proceeds).
    pub fn credit(&mut self, account: AccountId, asset: AssetId, amount: Decimal, now: i64) {
        self.with(account, asset, now, |b| b.free += amount);
    }

    /// Moves `amount` from free to locked, or fails without changing anything.
    pub fn lock(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: Decimal,
        now: i64,
    ) -> Result<(), Reject> {
        if self.balance(account, asset).free < amount || !self.exists(account) {
            return Err(Reject::InsufficientBalance);
        }
        self.with(account, asset, now, |b| {
            b.free -= amount;
            b.locked += amount;
        });
        Ok(())
    }

    /// Moves `amount` from locked back to free.
    pub fn unlock(&mut self, account: AccountId, asset: AssetId, amount: Decimal, now: i64) {
        if amount.is_zero() {
            return;
        }
        self.with(account, asset, now, |b| {
            b.locked -= amount;
            b.free += amount;
        });
    }

    /// Pays `amount` out of the locked funds (the reserved side of a trade).
    pub fn spend_locked(&mut self, account: AccountId, asset: AssetId, amount: Decimal, now: i64) {
        self.with(account, asset, now, |b| b.locked -= amount);
    }

    /// Accounts and assets changed since the last call, each once, in first-touch order.
    pub fn take_touched(&mut self) -> Vec<(AccountId, AssetId)> {
        let mut touched = std::mem::take(&mut self.touched);
        let mut seen = std::collections::HashSet::new();
        touched.retain(|key| seen.insert(*key));
        touched
    }

    fn get(&self, account: AccountId) -> Option<&Account> {
        self.list.get(account.0 as usize)
    }

    fn with(&mut self, account: AccountId, asset: AssetId, now: i64, f: impl FnOnce(&mut Balance)) {
        let Some(acc) = self.list.get_mut(account.0 as usize) else {
            return;
        };
        let Some(balance) = acc.balances.get_mut(asset.0) else {
            return;
        };
        f(balance);
        acc.update_time = now;
        if acc.reports {
            self.touched.push((account, asset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn lock_unlock_spend_keep_totals() {
        let mut accounts = Accounts::new(2);
        let user = accounts.open(true);
        let usdt = AssetId(1);
        accounts.credit(user, usdt, dec!(100), 1);
        assert_eq!(
            accounts.lock(user, usdt, dec!(100.01), 2),
            Err(Reject::InsufficientBalance)
        );
        accounts.lock(user, usdt, dec!(60), 3).unwrap();
        accounts.spend_locked(user, usdt, dec!(25), 4);
        accounts.unlock(user, usdt, dec!(35), 5);
        let balance = accounts.balance(user, usdt);
        assert_eq!(
            balance,
            Balance {
                free: dec!(75),
                locked: dec!(0)
            }
        );
        assert_eq!(accounts.balances(user).1, 5);
        assert_eq!(accounts.take_touched(), vec![(user, usdt)]);
    }

    #[test]
    fn agents_do_not_record_touches() {
        let mut accounts = Accounts::new(1);
        let agent = accounts.open(false);
        accounts.credit(agent, AssetId(0), dec!(1), 1);
        assert!(accounts.take_touched().is_empty());
        assert!(!accounts.reports(agent));
        assert_eq!(
            accounts.balance(AccountId(9), AssetId(0)),
            Balance::default()
        );
    }
}
