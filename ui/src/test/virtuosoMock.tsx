//! react-virtuoso measures the DOM, which jsdom can't do; tests get a plain list that renders
//! every group header and item in order, with the same callbacks. The latest props are kept in
//! `lastGroupedProps` so tests can call `startReached` etc.

import type { ComponentType } from "react";
import type { GroupedVirtuosoProps } from "react-virtuoso";

export let lastGroupedProps: GroupedVirtuosoProps<unknown, unknown> | null = null;

export function GroupedVirtuoso<D, C>(props: GroupedVirtuosoProps<D, C>) {
  lastGroupedProps = props as GroupedVirtuosoProps<unknown, unknown>;
  const { groupCounts = [], data = [], firstItemIndex = 0, context } = props;
  const components = (props.components ?? {}) as {
    Header?: ComponentType<{ context: C }>;
    Footer?: ComponentType<{ context: C }>;
  };
  const Header = components.Header;
  const Footer = components.Footer;
  const children: React.ReactNode[] = [];
  let index = 0;
  groupCounts.forEach((count, groupIndex) => {
    children.push(<div key={`group-${groupIndex}`}>{props.groupContent?.(groupIndex, context as C)}</div>);
    for (let k = 0; k < count; k++, index++) {
      const item = data[index] as D;
      const key = props.computeItemKey ? props.computeItemKey(firstItemIndex + index, item, context as C) : index;
      children.push(<div key={key}>{props.itemContent?.(firstItemIndex + index, groupIndex, item, context as C)}</div>);
    }
  });
  return (
    <div className={props.className} data-testid="virtuoso">
      {Header ? <Header context={context as C} /> : null}
      {children}
      {Footer ? <Footer context={context as C} /> : null}
    </div>
  );
}
